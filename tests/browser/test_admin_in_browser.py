"""The admin console in Chromium: charts drawn, alerts in the header, Replay swapping the events table."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from tests.browser.live import sign_up
from tests.ops.helpers import make_admin, seed_operations
from webapp.extensions import db
from webapp.models import BillingEvent, OpsAudit

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: "
                             "browser tests skipped").expect
pytestmark = pytest.mark.browser


def test_admin_console_draws_the_charts_shows_alerts_and_replays_an_event(page: Page, live) -> None:
    sign_up(page, live.url, "ops@example.com", name="Olu Ops")
    make_admin("ops@example.com")
    failed = seed_operations(datetime.now(UTC))
    page.goto("/admin")
    expect(page.locator("#alerts")).to_contain_text("have not been evaluated yet")
    expect(page.locator("#header-alerts")).to_have_count(0)
    page.get_by_role("button", name="Check now").click()   # evaluates; swaps the section and the header's count
    expect(page.get_by_role("heading", name="Admin console")).to_be_visible()
    for key in ("webhooks", "usage", "payments"):
        chart = page.locator(f"#chart-{key} svg")
        expect(chart).to_be_visible()
        assert chart.bounding_box()["height"] > 100
        assert page.locator(f"#chart-{key} rect.bar").count() > 0
    expect(page.locator("#chart-payments .threshold")).to_have_count(1)
    expect(page.locator("#header-alerts")).to_have_text("⚠ 2 alerts firing")
    expect(page.locator("#alerts")).to_contain_text("Failed payments per day")

    rows = page.locator("#events-attention tbody tr")
    expect(rows).to_have_count(4)   # 3 failed + 1 pending
    page.get_by_role("button", name=f"Replay {failed[0]}").click()
    status = page.locator("#events-attention [role=status]")
    expect(status).to_contain_text(f"Replayed {failed[0]}: ignored")
    expect(rows).to_have_count(3)
    expect(page.get_by_role("button", name=f"Replay {failed[0]}")).to_have_count(0)
    expect(page.get_by_role("heading", name="Admin console")).to_be_visible()   # swapped in place, no reload

    db.session.expire_all()
    assert db.session.scalar(select(BillingEvent.outcome).where(BillingEvent.event_id == failed[0])) == "ignored"
    audit = db.session.scalars(select(OpsAudit).where(OpsAudit.action == "replay_event")).one()
    assert audit.subject == failed[0] and audit.actor == "/admin replay (by ops@example.com)"


def test_admin_console_fits_a_340px_phone_without_scrolling_sideways(browser, live) -> None:
    from tests.browser.live import sign_up as sign_up_on

    context = browser.new_context(viewport={"width": 340, "height": 740}, base_url=live.url, is_mobile=True)
    page = context.new_page()
    try:
        sign_up_on(page, live.url, "phone-ops@example.com", name="Pat Ops")
        make_admin("phone-ops@example.com")
        seed_operations(datetime.now(UTC))
        page.goto("/admin")
        expect(page.locator("#chart-payments svg")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        widest = page.evaluate("Math.max(...[...document.querySelectorAll('main .card')]"
                               ".map(el => el.getBoundingClientRect().right))")
        assert widest <= 340, f"a card reaches {widest}px on a 340px screen"
    finally:
        context.close()
