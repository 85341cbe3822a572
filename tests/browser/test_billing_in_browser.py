"""Billing in Chromium: a plan change with its preview, cancel and resume, and the banner back from Checkout."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.billing.helpers import pay_on_hosted_checkout
from tests.browser.live import import_sample, pay_on_checkout, propose, sign_up, tenant_of
from webapp.billing import checkout
from webapp.extensions import db
from webapp.models import User

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: "
                             "browser tests skipped").expect
pytestmark = pytest.mark.browser


def subscribed(page: Page, live, email: str, plan: str = "starter") -> None:
    """Sign up in the browser, then subscribe through Checkout (paid on the hosted page)."""
    sign_up(page, live.url, email)
    user = db.session.scalar(db.select(User).where(User.email == email))
    start = checkout.start_checkout(user, live.url, plan=plan)
    assert pay_on_hosted_checkout(start.url, "4242424242424242")[0] in (302, 303)
    live.wait_for_webhooks()


def test_upgrade_shows_the_prorated_preview_and_the_new_limits_then_confirms(page: Page, live) -> None:
    subscribed(page, live, "upgrade@example.com")
    page.goto("/billing/plans")
    page.get_by_role("link", name="Upgrade to Pro").click()
    expect(page.get_by_role("heading", name="Upgrade to Pro")).to_be_visible()
    expect(page.locator("#plan-comparison")).to_contain_text("2,000")
    expect(page.locator("#preview-summary")).to_contain_text("Your first payment")
    expect(page.locator("#preview-summary")).to_contain_text("$149.00")
    page.get_by_role("button", name="Confirm: switch to Pro").click()
    page.wait_for_url(re.compile(r"/billing\?done=plan$"))
    expect(page.locator("#done-banner")).to_contain_text("You're on Pro — 2,000 postings a month.")
    expect(page.get_by_role("heading", name="Pro plan")).to_be_visible()


def test_cancel_and_resume_each_ask_to_confirm(page: Page, live) -> None:
    subscribed(page, live, "cancel@example.com")
    page.goto("/billing")
    page.get_by_role("link", name="Cancel plan").click()
    expect(page.locator("#cancel-summary")).to_contain_text("stays as it is until")
    page.get_by_role("button", name="Confirm: cancel at period end").click()
    expect(page.locator("#done-banner")).to_contain_text("Your Starter plan ends on")
    expect(page.locator("#status-badge")).to_contain_text("Cancels")
    page.get_by_role("link", name="Resume plan").click()
    expect(page.locator("#resume-summary")).to_contain_text("$49.00")
    page.get_by_role("button", name="Confirm: resume Starter").click()
    expect(page.locator("#done-banner")).to_contain_text("You're on Starter")
    expect(page.get_by_role("link", name="Cancel plan")).to_be_visible()


def test_after_checkout_from_the_paywall_the_banner_confirms_and_continue_returns_to_the_workspace(
        page: Page, live) -> None:
    sign_up(page, live.url, "paywall@example.com")
    tenant = tenant_of("paywall@example.com")
    propose(tenant, import_sample(tenant, rows=1))
    page.goto("/app")
    page.get_by_role("button", name="Commit: Staples order 1042").click()
    page.get_by_role("dialog").get_by_role("button", name="Choose Starter").click()
    pay_on_checkout(page)
    expect(page.locator("#done-banner")).to_contain_text("You're on Starter — 300 postings a month.", timeout=15_000)
    page.get_by_role("link", name="Continue").click()
    page.wait_for_url(re.compile(r"/app/companies/[^/?]+$"))
    expect(page.get_by_role("button", name="Commit: Staples order 1042")).to_be_visible()
