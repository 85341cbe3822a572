"""Subscribing through Checkout with Stripe's test cards, end to end over real HTTP against the emulator."""
from __future__ import annotations

import urllib.parse

import pytest
import requests

from tests.billing.helpers import http, pay_on_hosted_checkout, start_checkout, subscribe
from tests.billing.conftest import signup_over_http
from tests.conftest import csrf_token_from


def test_runbook_scenario_1_signup_checkout_pay_4242_webhook_makes_status_active_on_starter(billing):
    """The runbook's curl commands, as printed (JSON bodies, no Content-Type on checkout), over real HTTP."""
    base = billing.url
    signup = requests.post(f"{base}/api/auth/signup", headers={"Content-Type": "application/json"}, timeout=30,
                           data='{"email": "test@example.com", "password": "testpass123", "full_name": "Test User"}')
    assert signup.status_code == 201
    auth = {"Authorization": f"Bearer {signup.json()['token']}"}
    status = requests.get(f"{base}/api/billing/status", headers=auth, timeout=30).json()
    assert (status["plan"], status["active"], status["subscription_status"]) == ("free", False, "none")
    price = billing.catalog["starter"]["price_id"]
    checkout = requests.post(f"{base}/api/billing/checkout", headers=auth, timeout=30,
                             data='{"price_id": "' + price + '"}')
    assert checkout.status_code == 200
    body = checkout.json()
    assert body["url"].startswith(billing.emulator.url) and body["session_id"].startswith("cs_")
    code, location, _ = pay_on_hosted_checkout(body["url"], "4242424242424242")
    assert code in (302, 303) and f"/billing/success?session_id={body['session_id']}" in location
    billing.wait_for_webhooks()
    status = requests.get(f"{base}/api/billing/status", headers=auth, timeout=30).json()
    assert status["plan"] == "starter" and status["active"] is True and status["effective_plan"] == "starter"
    assert status["subscription_status"] in ("trialing", "active")
    assert status["tx_cap"] == 300 and status["bulk_approve"] is False and status["included_companies"] == 1
    assert status["usage"]["tx_remaining"] == 300


def test_checkout_gives_a_14_day_trial_to_a_tenant_that_never_subscribed(billing, tenant):
    subscribe(billing, tenant)
    status = tenant.get("/api/billing/status").get_json()
    assert status["subscription_status"] == "trialing" and status["trial_end"]


class TestWithoutWebhooks:
    @pytest.fixture
    def billing_overrides(self):
        return {"STRIPE_WEBHOOK_SECRET": "whsec_not_the_emulators"}  # every delivery is refused

    def test_success_page_applies_the_subscription_without_waiting_for_the_webhook(self, billing):
        web = billing.app.test_client()
        page = web.get("/signup").get_data(as_text=True)
        web.post("/signup", data={"email": "s@example.com", "password": "testpass123", "full_name": "S",
                                  "company_name": "S Co", "csrf_token": csrf_token_from(page)})
        plans = web.get("/billing/plans").get_data(as_text=True)
        resp = web.post("/billing/checkout/pro", data={"csrf_token": csrf_token_from(plans)})
        assert resp.status_code == 303
        code, location, _ = pay_on_hosted_checkout(resp.headers["Location"], "4242424242424242")
        parts = urllib.parse.urlsplit(location)
        assert parts.path == "/billing/success"
        done = web.get(f"{parts.path}?{parts.query}")
        assert done.status_code == 303
        page = web.get(done.headers["Location"]).get_data(as_text=True)
        assert "Pro plan" in page and "Activating" not in page

    def test_success_page_with_an_unknown_session_changes_nothing_and_polls(self, billing, logged_in_billing):
        done = logged_in_billing.get("/billing/success?session_id=cs_nope")
        assert done.status_code == 303 and "activating=1" in done.headers["Location"]


def test_declined_card_shows_the_error_and_leaves_the_tenant_on_free(billing, tenant):
    session = start_checkout(tenant)
    code, _, html = pay_on_hosted_checkout(session["url"], "4000000000000002")
    assert code in (200, 402) and "declined" in html.lower()
    billing.wait_for_webhooks()
    assert tenant.get("/api/billing/status").get_json()["active"] is False


def test_insufficient_funds_card_is_refused_and_another_card_then_works(billing, tenant):
    session = start_checkout(tenant)
    code, _, html = pay_on_hosted_checkout(session["url"], "4000000000009995")
    assert "insufficient" in html.lower()
    assert tenant.get("/api/billing/status").get_json()["active"] is False
    code, location, _ = pay_on_hosted_checkout(session["url"], "4242424242424242")
    assert code in (302, 303)
    billing.wait_for_webhooks()
    assert tenant.get("/api/billing/status").get_json()["active"] is True


def test_3d_secure_card_activates_only_after_authentication_completes(billing, tenant):
    from tests.billing.helpers import form_by_label

    session = start_checkout(tenant, "pro")
    code, location, html = pay_on_hosted_checkout(session["url"], "4000002500003155")
    if code in (302, 303):
        code, location, html = http("GET", location)
    assert "3-D Secure" in html or "authentic" in html.lower()
    assert tenant.get("/api/billing/status").get_json()["active"] is False
    action = form_by_label(html, location, "3-D Secure")
    code, location, _ = http("POST", action, {"action": "complete"})
    assert code in (302, 303)
    billing.wait_for_webhooks()
    status = tenant.get("/api/billing/status").get_json()
    assert status["active"] is True and status["plan"] == "pro"


def test_failed_3d_secure_leaves_the_tenant_on_free(billing, tenant):
    from tests.billing.helpers import form_by_label

    session = start_checkout(tenant)
    code, location, html = pay_on_hosted_checkout(session["url"], "4000002500003155")
    if code in (302, 303):
        code, location, html = http("GET", location)
    http("POST", form_by_label(html, location, "3-D Secure"), {"action": "fail"})
    billing.wait_for_webhooks()
    assert tenant.get("/api/billing/status").get_json()["active"] is False


def test_checkout_for_an_unknown_price_is_400_unknown_price(billing, tenant):
    for body in ({"price_id": "price_nope"}, {"plan": "platinum"}, {"plan": "free"},
                 {"price_id": billing.catalog["firm_addon"]["price_id"]}):
        resp = tenant.post("/api/billing/checkout", json=body)
        assert resp.status_code == 400 and resp.get_json()["code"] == "UNKNOWN_PRICE", body


def test_checkout_bad_input_is_400_invalid_request(billing, tenant):
    for body in ({}, {"plan": 5}, {"plan": "starter", "price_id": "price_x"},
                 {"plan": "starter", "addon_companies": 2}, {"plan": "firm", "addon_companies": -1},
                 {"plan": "firm", "addon_companies": "3"}):
        resp = tenant.post("/api/billing/checkout", json=body)
        assert resp.status_code == 400 and resp.get_json()["code"] == "INVALID_REQUEST", body


def test_checkout_says_what_is_missing_for_an_empty_body_and_what_clashes_for_both(billing, tenant):
    empty = tenant.post("/api/billing/checkout", json={}).get_json()
    assert empty["message"] == "Say what to buy: give price_id or plan."
    assert empty["fields"] == {"price_id": "is required (or give plan)"}
    both = tenant.post("/api/billing/checkout", json={"plan": "starter", "price_id": "price_x"}).get_json()
    assert both["fields"] == {"price_id": "give price_id or plan, not both"}


def test_subscribed_tenant_gets_409_already_subscribed_with_the_portal_url(billing, tenant):
    subscribe(billing, tenant)
    resp = tenant.post("/api/billing/checkout", json={"plan": "pro"})
    assert resp.status_code == 409
    body = resp.get_json()
    assert body["code"] == "ALREADY_SUBSCRIBED" and body["portal_url"]


def test_firm_checkout_with_addon_companies_sets_the_company_allowance(billing, tenant):
    subscribe(billing, tenant, "firm", addon_companies=3)
    status = tenant.get("/api/billing/status").get_json()
    assert status["plan"] == "firm" and status["included_companies"] == 10 and status["addon_companies"] == 3


def test_checkout_reuses_the_tenants_stripe_customer(billing, tenant):
    first = start_checkout(tenant)
    second = start_checkout(tenant)
    a = billing.stripe.v1.checkout.sessions.retrieve(first["session_id"])
    b = billing.stripe.v1.checkout.sessions.retrieve(second["session_id"])
    assert a.customer == b.customer and a.customer
    customer = billing.stripe.v1.customers.retrieve(a.customer)
    assert customer.metadata["tenant_id"] == tenant.tenant_id


def test_portal_without_a_billing_account_is_409(billing, tenant):
    resp = tenant.get("/api/billing/portal", headers={"Accept": "application/json"})
    assert resp.status_code == 409 and resp.get_json()["code"] == "NO_BILLING_ACCOUNT"


def test_portal_redirects_with_303_or_answers_json(billing, tenant):
    subscribe(billing, tenant)
    resp = tenant.post("/api/billing/portal")
    assert resp.status_code == 303 and resp.headers["Location"].startswith(billing.emulator.url)
    resp = tenant.get("/api/billing/portal", headers={"Accept": "application/json"})
    assert resp.status_code == 200 and resp.get_json()["url"].startswith(billing.emulator.url)


def test_billing_routes_need_a_token(billing):
    client = billing.app.test_client()
    for method, path in (("post", "/api/billing/checkout"), ("get", "/api/billing/status"),
                         ("get", "/api/billing/portal")):
        assert getattr(client, method)(path).status_code == 401


def test_one_tenants_checkout_never_touches_another_tenant(billing, tenant):
    other = signup_over_http(billing.url, email="other@example.com")
    subscribe(billing, tenant)
    assert other.get("/api/billing/status").get_json()["active"] is False


def test_a_second_checkout_expires_the_first_so_a_second_tab_cannot_make_a_second_subscription(billing, tenant):
    first = start_checkout(tenant)
    second = start_checkout(tenant)
    _, _, html = http("GET", first["url"])
    assert 'aria-label="Payment"' not in html and "expired" in html.lower()  # the first tab can no longer pay
    code, _, _ = pay_on_hosted_checkout(second["url"], "4242424242424242")
    assert code in (302, 303)
    billing.wait_for_webhooks()
    customer = billing.entitlement(tenant.tenant_id).stripe_customer_id
    subs = billing.stripe.v1.subscriptions.list({"customer": customer, "status": "all"}).data
    assert len(subs) == 1


def test_no_second_trial_after_a_subscription_ended(billing, tenant):
    subscribe(billing, tenant)
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    billing.stripe.v1.subscriptions.cancel(sub_id)
    billing.wait_for_webhooks()
    assert tenant.get("/api/billing/status").get_json()["subscription_status"] == "canceled"
    subscribe(billing, tenant, "pro")
    status = tenant.get("/api/billing/status").get_json()
    assert (status["plan"], status["subscription_status"], status["trial_end"]) == ("pro", "active", None)


def test_an_old_subscription_ending_again_never_takes_away_the_current_one(billing, tenant, db):
    from sqlalchemy import select

    from webapp.models import BillingEvent

    subscribe(billing, tenant)
    old_sub = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    billing.stripe.v1.subscriptions.cancel(old_sub)
    billing.wait_for_webhooks()
    subscribe(billing, tenant, "pro")
    db.session.expire_all()
    deleted = db.session.scalars(select(BillingEvent.event_id).where(
        BillingEvent.type == "customer.subscription.deleted")).one()
    replayed = billing.app.test_cli_runner().invoke(args=["billing", "replay", deleted])
    assert replayed.exit_code == 0, replayed.output
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.active, ent.stripe_subscription_id != old_sub) == ("pro", True, True)


class TestReturnUrl:
    @pytest.fixture
    def billing_overrides(self):
        return {"BILLING_RETURN_URL": "https://books.example.com/dashboard"}

    def test_billing_return_url_sets_checkouts_origin_and_the_portals_return_link(self, billing, tenant):
        session = start_checkout(tenant)
        cs = billing.stripe.v1.checkout.sessions.retrieve(session["session_id"])
        assert cs.success_url.startswith("https://books.example.com/billing/success?session_id=")
        assert cs.cancel_url.startswith("https://books.example.com/billing/plans")
        pay_on_hosted_checkout(session["url"], "4242424242424242")
        billing.wait_for_webhooks()
        url = tenant.get("/api/billing/portal", headers={"Accept": "application/json"}).get_json()["url"]
        code, _, html = http("GET", url)  # the hosted portal shows the session's return link
        assert code == 200 and 'href="https://books.example.com/dashboard"' in html
