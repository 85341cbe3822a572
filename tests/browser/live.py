"""The app served live over HTTP beside a fresh Stripe emulator, and Chromium to drive them.

Shared by tests/browser/ (as fixtures) and scripts/screenshots.py: the emulator's Checkout and Portal
pages redirect the browser to the live app, and its webhooks reach the app, as in production.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.live_stack import BillingEnv, live_billing

__all__ = ["BillingEnv", "live_billing"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1280, "height": 800}


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here (None when they can): Chromium or Playwright missing."""
    if shutil.which(CHROMIUM) is None:
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium); browser tests skipped"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install playwright); browser tests skipped"
    return None


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


SAMPLE_CSV = """date,description,amount,counterparty,id
2025-01-02,Staples order 1042,-84.20,Staples,bank-0001
2025-01-03,Adobe Creative Cloud,-59.99,Adobe,bank-0002
2025-01-06,Invoice 2025-001 paid,1250.00,Northwind Traders,bank-0003
2025-01-08,Uber trip to client,-23.75,Uber,bank-0004
2025-01-10,Monthly rent January,-1800.00,Harbor Properties,bank-0005
2025-01-13,Google Ads campaign,-150.00,Google,bank-0006
2025-01-15,Comcast business internet,-89.00,Comcast,bank-0007
2025-01-17,Lunch with client,-42.60,Blue Bottle Cafe,bank-0008
"""


def tenant_of(email: str) -> str:
    """The tenant id of the user with this email (signed up through the browser)."""
    from sqlalchemy import select

    from webapp.extensions import db
    from webapp.models import User

    db.session.expire_all()
    tenant_id = db.session.scalar(select(User.tenant_id).where(User.email == email.lower()))
    assert tenant_id is not None, f"no user {email}"
    return tenant_id


def import_sample(tenant_id: str, rows: int | None = None) -> list[str]:
    """Import the sample statement (or its first `rows` lines) through the CSV service; our transaction ids."""
    from webapp.bookkeeping import csv_import

    lines = SAMPLE_CSV.strip().splitlines()
    text = "\n".join(lines[: 1 + rows] if rows else lines)
    return [t.id for t, _ in csv_import.import_csv(tenant_id, None, text).rows]


def propose(tenant_id: str, txn_ids: list[str]) -> list[str]:
    """Propose entries through the proposals service (not counted: seeding only); their ids."""
    from webapp.bookkeeping import proposals

    return [entry.id for _, entry in proposals.propose_entries(tenant_id, txn_ids)]


def use_free_analyses(tenant_id: str, n: int) -> None:
    """Count n of today's free analyses through the metering service, as if proposals had been made."""
    from webapp import clock
    from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT
    from webapp.extensions import db
    from webapp.metering import usage

    assert usage.take_daily_analyzed(tenant_id, n, FREE_DAILY_ANALYZE_LIMIT, clock.now())
    usage.count_analyzed(tenant_id, n, clock.now())  # the month counts them too, as the gate does
    db.session.commit()


def use_postings(tenant_id: str, n: int, cap: int) -> None:
    """Count n of this month's postings through the metering service, as if entries had been committed."""
    from webapp import clock
    from webapp.extensions import db
    from webapp.metering import usage

    assert usage.take_posted(tenant_id, n, cap, clock.now())
    db.session.commit()


def sign_up(page: Any, base_url: str, email: str, name: str = "Dana Fisher", password: str = "correct-horse-9",
            company: str = "Fisher Design Studio") -> None:
    """Sign up through the form, as a new user would; lands on the workspace of the company named."""
    import re

    page.goto(f"{base_url}/signup")
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Company name").fill(company)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(re.compile(re.escape(base_url) + r"/app/companies/co_\w+$"))


def pay_on_checkout(page: Any, card: str = "4242424242424242", name: str = "Dana Fisher") -> None:
    """Fill the emulator's hosted Checkout form and pay."""
    form = page.get_by_role("form", name="Payment")
    form.locator("#card_number").fill(card)
    form.locator("#exp").fill("12/34")
    form.locator("#cvc").fill("123")
    form.locator("#name").fill(name)
    page.locator("#pay").click()
