"""Plan changes, cancel and resume from the app, and the way back after Checkout and the Portal.

Each change is confirmed from a page that shows Stripe's own preview; the tests check that what
the page promised is what the emulator then bills.
"""
from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.billing.helpers import advance_clock, http, pay_on_hosted_checkout, put_on_test_clock, subscribe
from tests.billing.test_billing_page import billing_html, text_of
from tests.conftest import csrf_token_from


def on_stripe_time(clock, billing, test_clock) -> None:
    """Set the app's clock to the test clock's time (the app proposes proration dates from its own clock)."""
    frozen = billing.stripe.v1.test_helpers.test_clocks.retrieve(test_clock.id).frozen_time
    clock.set(datetime.fromtimestamp(frozen, UTC))


def confirm_form(web, path: str) -> tuple[str, dict[str, str]]:
    html = web.get(path).get_data(as_text=True)
    fields = {"csrf_token": csrf_token_from(html)}
    match = re.search(r'name="proration_date" value="(\d+)"', html)
    if match:
        fields["proration_date"] = match.group(1)
    return html, fields


def money(text: str) -> int:
    whole, cents = text.replace("$", "").replace(",", "").split(".")
    return int(whole) * 100 + int(cents)


def latest_invoice(billing, tenant):
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    return billing.stripe.v1.invoices.list({"subscription": sub_id}).data[0]


@pytest.fixture
def paying_on_a_clock(billing, tenant, db):
    billing.app.config["TRIAL_DAYS"] = 0
    test_clock = put_on_test_clock(billing, tenant, db)
    return test_clock


def test_an_upgrade_charges_now_exactly_the_prorated_amount_the_confirm_page_showed(
        billing, tenant, logged_in_billing, paying_on_a_clock, clock):
    subscribe(billing, tenant, "starter")
    advance_clock(billing, paying_on_a_clock.id, days=10)
    on_stripe_time(clock, billing, paying_on_a_clock)
    plans = logged_in_billing.get("/billing/plans").get_data(as_text=True)
    assert "Upgrade to Pro" in plans and "Downgrade to" not in plans and "Choose Pro" not in plans
    html, fields = confirm_form(logged_in_billing, "/billing/change/pro")
    shown = money(re.search(r"<strong>(\$[\d,.]+)</strong> is charged to your card now", html).group(1))
    assert 0 < shown < 14900 - 4900 and "2,000" in html and "Bulk approve" in html
    resp = logged_in_billing.post("/billing/change/pro", data=fields)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/billing?done=plan")
    billing.wait_for_webhooks()
    invoice = latest_invoice(billing, tenant)
    assert (invoice.billing_reason, invoice.status, invoice.amount_paid) == ("subscription_update", "paid", shown)
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.tx_cap, ent.bulk_approve) == ("pro", 2000, True)
    page = billing_html(logged_in_billing, "/billing?done=plan")
    assert text_of(page, "done-banner") == "You're on Pro — 2,000 postings a month."
    again = logged_in_billing.post("/billing/change/pro", data=fields)  # a second click changes nothing more
    assert again.status_code == 303 and len(billing.stripe.v1.invoices.list(
        {"subscription": invoice.parent.subscription_details.subscription}).data) == 2


def test_a_downgrade_bills_the_previewed_amount_at_renewal_and_says_what_happens_to_extra_companies(
        billing, tenant, logged_in_billing, paying_on_a_clock, clock):
    subscribe(billing, tenant, "pro")
    for name in ("Second Co", "Third Co"):
        assert tenant.post("/api/companies", json={"name": name}).status_code == 201
    advance_clock(billing, paying_on_a_clock.id, days=25)
    on_stripe_time(clock, billing, paying_on_a_clock)
    html, fields = confirm_form(logged_in_billing, "/billing/change/starter")
    summary = text_of(html, "preview-summary")
    match = re.search(r"Your next invoice, on (\d{4}-\d\d-\d\d) ?, will be (\$[\d,.]+)", summary)
    assert match and "Nothing now." in summary, summary
    shown = money(match.group(2))
    assert 0 < shown < 4900
    assert "You have 3 companies and Starter includes 1. All 3 stay" in text_of(html, "companies-warning")
    assert logged_in_billing.post("/billing/change/starter", data=fields).status_code == 303
    billing.wait_for_webhooks()
    assert billing.entitlement(tenant.tenant_id).plan == "starter"
    assert latest_invoice(billing, tenant).billing_reason == "subscription_create"  # nothing charged now
    advance_clock(billing, paying_on_a_clock.id, days=7)
    renewal = latest_invoice(billing, tenant)
    assert renewal.billing_reason == "subscription_cycle" and renewal.amount_paid == shown
    assert datetime.fromtimestamp(renewal.created, UTC).strftime("%Y-%m-%d") == match.group(1)


def test_an_expired_confirmation_is_previewed_again_and_changes_nothing(billing, tenant, logged_in_billing):
    subscribe(billing, tenant, "starter")
    _, fields = confirm_form(logged_in_billing, "/billing/change/pro")
    now = int(time.time())
    for stale in (str(now - 3600), "soon", "", str(now + 600)):
        resp = logged_in_billing.post("/billing/change/pro", data={**fields, "proration_date": stale})
        assert resp.status_code == 303 and resp.headers["Location"].endswith("/billing/change/pro?expired=1")
    assert "here is the current one" in logged_in_billing.get("/billing/change/pro?expired=1").get_data(as_text=True)
    assert billing.entitlement(tenant.tenant_id).plan == "starter"


def test_cancel_then_resume_each_confirmed_first(billing, tenant, logged_in_billing):
    subscribe(billing, tenant, "starter")
    html, fields = confirm_form(logged_in_billing, "/billing/cancel")
    assert "stays as it is until" in text_of(html, "cancel-summary") and "Free plan" in html
    assert billing.entitlement(tenant.tenant_id).cancel_at_period_end is False  # the page changed nothing
    resp = logged_in_billing.post("/billing/cancel", data=fields)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/billing?done=canceled")
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    assert billing.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is True
    page = billing_html(logged_in_billing, "/billing?done=canceled")
    assert text_of(page, "done-banner").startswith("Your Starter plan ends on") and 'id="resume-plan"' in page
    html, fields = confirm_form(logged_in_billing, "/billing/resume")
    assert "renews on" in text_of(html, "resume-summary") and "$49.00" in html
    assert logged_in_billing.post("/billing/resume", data=fields).status_code == 303
    assert billing.stripe.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    assert billing.entitlement(tenant.tenant_id).cancel_at_period_end is False
    assert logged_in_billing.get("/billing/resume").status_code == 409  # nothing left to resume


def test_changes_need_a_working_subscription_and_a_real_plan(billing, tenant, logged_in_billing, db):
    assert logged_in_billing.get("/billing/change/pro").status_code == 409  # no subscription yet
    subscribe(billing, tenant, "starter")
    assert logged_in_billing.get("/billing/change/enterprise").status_code == 404
    assert logged_in_billing.get("/billing/change/starter").status_code == 409
    token = csrf_token_from(logged_in_billing.get("/billing").get_data(as_text=True))
    assert logged_in_billing.post("/billing/cancel", data={}).status_code == 400  # no CSRF token
    ent = billing.entitlement(tenant.tenant_id)
    ent.subscription_status, ent.active = "past_due", False
    db.session.commit()
    resp = logged_in_billing.get("/billing/change/pro")
    assert resp.status_code == 409 and "update your card first" in resp.get_data(as_text=True)
    assert logged_in_billing.post("/billing/change/pro", data={"csrf_token": token,
                                                               "proration_date": "1"}).status_code == 303


def test_back_from_checkout_the_banner_confirms_the_plan_and_continues_where_the_paywall_opened(
        billing, tenant, logged_in_billing):
    token = csrf_token_from(logged_in_billing.get("/billing/plans").get_data(as_text=True))
    resp = logged_in_billing.post("/billing/checkout/pro", data={"csrf_token": token, "next": "/app?company=x"})
    status, location, _ = pay_on_hosted_checkout(resp.headers["Location"], "4242424242424242")
    assert status == 303 and parse_qs(urlsplit(location).query)["next"] == ["/app?company=x"]
    billing.wait_for_webhooks()
    back = logged_in_billing.get(location[location.index("/billing"):])
    assert back.status_code == 303
    page = billing_html(logged_in_billing, back.headers["Location"])
    assert text_of(page, "done-banner").startswith("You're on Pro — 2,000 postings a month. Your free trial runs")
    assert 'href="/app?company=x" id="continue"' in page


@pytest.mark.parametrize("evil", ["https://evil.example/x", "//evil.example", "/\\evil.example", "java\nscript:x",
                                  " //evil.example", "http:/evil"])
def test_a_return_path_that_could_leave_the_site_is_dropped(billing, tenant, logged_in_billing, evil):
    subscribe(billing, tenant, "starter")
    page = billing_html(logged_in_billing, f"/billing?done=portal&next={evil}")
    assert text_of(page, "done-banner").startswith("You're on Starter")
    assert 'id="continue"' not in page and "evil" not in page


def test_the_portal_returns_to_the_billing_page_with_its_banner_and_the_way_back(billing, tenant, logged_in_billing):
    subscribe(billing, tenant, "starter")
    token = csrf_token_from(logged_in_billing.get("/billing").get_data(as_text=True))
    resp = logged_in_billing.post("/billing/portal", data={"csrf_token": token, "next": "/app"})
    portal_html = http("GET", resp.headers["Location"])[2]
    ret = re.search(r'<a id="return" href="([^"]+)"', portal_html).group(1).replace("&amp;", "&")
    assert ret.endswith("/billing?done=portal&next=%2Fapp")
    page = billing_html(logged_in_billing, ret[ret.index("/billing"):])
    assert text_of(page, "done-banner").startswith("You're on Starter — 300 postings a month. Your free trial runs until")
    assert 'href="/app" id="continue"' in page
