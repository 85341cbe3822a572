"""Browser fixtures: the live app and a fresh Stripe emulator per test, and one Chromium for the session.

The tests are skipped, with the reason in pytest's summary, where Debian's Chromium or Playwright is
missing. They run on SQLite only: they test the pages, the database tests cover both backends.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.billing.conftest import BillingEnv
from tests.browser.live import VIEWPORT, browser_unavailable, chromium, live_billing

SKIP_REASON = browser_unavailable()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every browser test, saying why, when Chromium or Playwright is not installed."""
    if SKIP_REASON is None:
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.fixture
def backend() -> str:
    """Browser tests run on SQLite only (one parameter, not one per backend)."""
    return "sqlite"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[BillingEnv]:
    """The app served over HTTP with its own emulator, catalog bootstrapped, app context held."""
    with live_billing(f"sqlite:///{tmp_path / 'browser.db'}", tmp_path) as env:
        yield env


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, live: BillingEnv) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the live app."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    context = browser.new_context(viewport=VIEWPORT, base_url=live.url)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()
