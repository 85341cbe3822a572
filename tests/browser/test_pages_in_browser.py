"""The product as people see it: Chromium against the live app and the Stripe emulator."""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest

from tests.billing.helpers import pay_on_hosted_checkout
from tests.browser.live import (import_sample, pay_on_checkout, propose, sign_up, tenant_of, use_free_analyses,
                                use_postings)
from tests.factories import set_plan
from webapp.billing import checkout
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT, STARTER
from webapp.extensions import db
from webapp.models import User

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed: "
                             "browser tests skipped").expect
pytestmark = pytest.mark.browser


def dialog(page: Page):  # type: ignore[no-untyped-def]
    """The open modal dialog."""
    return page.get_by_role("dialog")


def test_sign_up_lands_on_the_workspace_on_the_free_plan(page: Page, live) -> None:
    sign_up(page, live.url, "new@example.com")
    expect(page).to_have_title(re.compile("Workspace"))
    expect(page.get_by_role("status").first).to_contain_text("Free plan")
    expect(page.locator("#usage-meter")).to_contain_text("Free")
    expect(page.locator("#usage-meter")).to_contain_text(f"0 / {FREE_DAILY_ANALYZE_LIMIT}")
    page.get_by_role("link", name="Billing").click()
    expect(page.locator("#status-badge")).to_have_text("No subscription")
    expect(page.get_by_role("heading", name="Free plan")).to_be_visible()


def test_the_51st_proposal_shows_the_free_cap_modal_with_upgrade_buttons(page: Page, live) -> None:
    sign_up(page, live.url, "free@example.com")
    tenant = tenant_of("free@example.com")
    import_sample(tenant, rows=2)
    use_free_analyses(tenant, FREE_DAILY_ANALYZE_LIMIT)
    page.goto("/app")
    page.get_by_role("button", name="Propose: Staples order 1042").click()
    modal = dialog(page)
    expect(modal).to_be_visible()
    expect(modal).to_have_attribute("aria-modal", "true")
    expect(modal.get_by_role("heading", name="Today's free analyses are used up")).to_be_visible()
    expect(modal).to_contain_text(f"{FREE_DAILY_ANALYZE_LIMIT} of {FREE_DAILY_ANALYZE_LIMIT} used")
    expect(modal).to_contain_text("Resets in")
    expect(modal.get_by_role("button", name="Choose Starter")).to_be_visible()
    expect(page.get_by_text("Proposed", exact=True)).to_have_count(0)  # nothing was proposed


def test_modal_is_keyboard_operable_and_returns_focus_to_the_opener(page: Page, live) -> None:
    sign_up(page, live.url, "keys@example.com")
    tenant = tenant_of("keys@example.com")
    import_sample(tenant, rows=1)
    use_free_analyses(tenant, FREE_DAILY_ANALYZE_LIMIT)
    page.goto("/app")
    opener = page.get_by_role("button", name="Propose: Staples order 1042")
    opener.focus()
    page.keyboard.press("Enter")
    modal = dialog(page)
    expect(modal).to_be_focused()
    for _ in range(12):  # Tab cycles inside the dialog, never out of it
        page.keyboard.press("Tab")
        assert page.evaluate("document.querySelector('[role=dialog]').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(modal).to_have_count(0)
    expect(opener).to_be_focused()
    page.keyboard.press("Enter")  # open again, close with the close button
    page.get_by_role("button", name="Close").click()
    expect(dialog(page)).to_have_count(0)


def test_choose_starter_pay_with_4242_and_the_status_page_turns_active(page: Page, live) -> None:
    sign_up(page, live.url, "payer@example.com")
    page.get_by_role("link", name="Plans").click()
    expect(page.locator(".plan.current")).to_contain_text("Free")
    page.get_by_role("button", name="Choose Starter").click()
    expect(page.get_by_role("form", name="Payment")).to_be_visible()
    pay_on_checkout(page)
    page.wait_for_url(re.compile(r"/billing\?done=checkout"))
    expect(page.get_by_role("heading", name="Starter plan")).to_be_visible()
    expect(page.locator("#status-badge")).to_contain_text("Trial")
    expect(page.locator("#usage-meter")).to_contain_text(f"0 / {STARTER.tx_cap}")


def test_status_page_polls_while_activating_until_the_plan_is_active(page: Page, live) -> None:
    sign_up(page, live.url, "waiting@example.com")
    page.goto(f"/billing?activating=1&since={int(time.time())}")
    expect(page.get_by_text("Activating your subscription…")).to_be_visible()
    set_plan(tenant_of("waiting@example.com"), "starter")  # as the webhook would
    expect(page.locator("#status-badge")).to_have_text("Active", timeout=8000)
    expect(page.get_by_text("Activating your subscription…")).to_have_count(0)


def test_the_301st_commit_shows_the_monthly_cap_modal(page: Page, live) -> None:
    sign_up(page, live.url, "starter@example.com")
    tenant = tenant_of("starter@example.com")
    set_plan(tenant, "starter")
    propose(tenant, import_sample(tenant, rows=2))
    use_postings(tenant, STARTER.tx_cap - 1, STARTER.tx_cap)
    page.goto("/app")
    page.get_by_role("button", name="Commit: Staples order 1042").click()  # the 300th
    expect(page.get_by_role("status").filter(has_text="Posted 1 entry")).to_be_visible()
    expect(page.locator("#usage-meter")).to_contain_text(f"{STARTER.tx_cap} / {STARTER.tx_cap}")
    expect(page.locator("#usage-nudge")).to_contain_text("Pro posts 2,000 a month")
    page.get_by_role("button", name="Commit: Adobe Creative Cloud").click()  # the 301st
    modal = dialog(page)
    expect(modal.get_by_role("heading", name="This month's postings are used up")).to_be_visible()
    expect(modal.locator("meter")).to_have_attribute("value", str(STARTER.tx_cap))
    expect(modal).to_contain_text("Pro")
    expect(page.get_by_role("row", name=re.compile("Adobe Creative Cloud")).first).to_be_visible()


def test_bulk_commit_and_second_company_show_which_plan_includes_them(page: Page, live) -> None:
    sign_up(page, live.url, "bulk@example.com")
    tenant = tenant_of("bulk@example.com")
    set_plan(tenant, "starter")
    propose(tenant, import_sample(tenant, rows=2))
    page.goto("/app")
    page.get_by_role("checkbox", name="Select all proposals").check()
    page.get_by_role("button", name="Commit selected").click()
    expect(dialog(page).get_by_role("heading", name="Bulk approve is not in your plan")).to_be_visible()
    expect(dialog(page)).to_contain_text("Pro")
    page.keyboard.press("Escape")
    page.get_by_text("Switch company").click()
    page.get_by_label("New company").fill("Second Street Bakery")
    page.get_by_role("button", name="Add company").click()
    expect(dialog(page).get_by_role("heading", name="Your plan's companies are all in use")).to_be_visible()
    expect(dialog(page)).to_contain_text("Pro")


def test_a_past_due_tenant_sees_the_update_card_modal(page: Page, live) -> None:
    sign_up(page, live.url, "late@example.com")
    tenant = tenant_of("late@example.com")
    set_plan(tenant, "starter")
    propose(tenant, import_sample(tenant, rows=1))
    set_plan(tenant, "starter", status="past_due", active=False)
    page.goto("/app")
    page.get_by_role("button", name="Commit: Staples order 1042").click()
    modal = dialog(page)
    expect(modal.get_by_role("heading", name="Your last payment did not go through")).to_be_visible()
    expect(modal.get_by_role("button", name="Update card")).to_be_visible()
    page.keyboard.press("Escape")
    page.goto("/billing")
    expect(page.locator("#status-badge")).to_have_text("Payment failed")
    expect(page.get_by_role("button", name="Update card")).to_be_visible()


def test_cancel_at_period_end_in_the_portal_shows_on_the_status_page(page: Page, live) -> None:
    sign_up(page, live.url, "leaving@example.com")
    user = db.session.scalar(db.select(User).where(User.email == "leaving@example.com"))
    start = checkout.start_checkout(user, live.url, plan="starter")
    code, _, _ = pay_on_hosted_checkout(start.url, "4242424242424242")
    assert code in (302, 303)
    live.wait_for_webhooks()
    page.goto("/billing")
    expect(page.locator("#status-badge")).to_contain_text("Trial")
    page.get_by_role("button", name="Manage billing").click()
    page.get_by_role("form", name="Cancel plan").get_by_role("button", name="Cancel plan").click()
    live.wait_for_webhooks()
    page.locator("#return").click()
    page.wait_for_url(re.compile(r"/billing\?done=portal$"))
    expect(page.locator("#done-banner")).to_contain_text("Your Starter plan ends on")
    expect(page.locator("#status-badge")).to_contain_text("Cancels")
    expect(page.get_by_text("Your plan is canceled and ends on")).to_be_visible()


def test_the_account_picked_in_a_row_is_the_one_its_commit_button_posts(page: Page, live) -> None:
    sign_up(page, live.url, "picker@example.com")
    tenant = tenant_of("picker@example.com")
    set_plan(tenant, "starter")
    propose(tenant, import_sample(tenant, rows=2))
    page.goto("/app")
    page.get_by_label("Account for Staples order 1042", exact=True).select_option("6900")
    page.get_by_role("button", name="Commit: Staples order 1042").click()  # no "Set" first
    expect(page.get_by_role("status").filter(has_text="Posted 1 entry")).to_be_visible()
    ledger = page.get_by_role("table", name="Posted entries, newest first")
    expect(ledger).to_contain_text("6900 Professional Fees")
    expect(ledger).not_to_contain_text("6300 Office Supplies")


def test_a_row_committed_in_another_tab_leaves_this_tab_when_it_is_refused(page: Page, live) -> None:
    sign_up(page, live.url, "tabs@example.com")
    tenant = tenant_of("tabs@example.com")
    set_plan(tenant, "starter")
    propose(tenant, import_sample(tenant, rows=2))
    page.goto("/app")
    other = page.context.new_page()
    other.goto("/app")
    other.get_by_role("button", name="Commit: Staples order 1042").click()
    expect(other.get_by_role("status").filter(has_text="Posted 1 entry")).to_be_visible()

    page.get_by_role("button", name="Commit: Staples order 1042").click()  # this tab still shows the row
    expect(dialog(page).get_by_role("heading", name="Already posted")).to_be_visible()
    expect(page.get_by_role("button", name="Commit: Staples order 1042")).to_have_count(0)
    expect(page.get_by_role("button", name="Commit: Adobe Creative Cloud")).to_be_visible()
    expect(page.get_by_role("table", name="Posted entries, newest first")).to_contain_text("Staples order 1042")
    page.keyboard.press("Escape")
    expect(dialog(page)).to_have_count(0)
    expect(page.locator("#usage-meter")).to_have_count(1)
