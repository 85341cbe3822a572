"""A subscription's life as Stripe's test clocks move it: trial, renewal, failure and recovery, cancel, plan change."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.billing.helpers import advance_clock, card_form, http, put_on_test_clock, submit_form, subscribe
from webapp.models import BillingEvent, BillingNotice


def portal_page(tenant) -> tuple[str, str]:
    url = tenant.get("/api/billing/portal", headers={"Accept": "application/json"}).get_json()["url"]
    status, _, html = http("GET", url)
    assert status == 200, html
    return url, html


def renewal_fails(billing, tenant, db) -> Any:
    """A starter subscriber (no trial) on a test clock whose card cannot be charged, 31 days on: past_due."""
    billing.app.config["TRIAL_DAYS"] = 0
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant)
    url, html = portal_page(tenant)  # the card on file becomes one that attaches but cannot be charged
    submit_form(html, url, "Update card", card_form("4000000000000341"))
    billing.wait_for_webhooks()
    advance_clock(billing, clock.id, days=31)
    return clock


def test_trial_sends_trial_will_end_with_a_notice_then_the_first_charge_makes_it_active(billing, tenant, db):
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant)
    assert billing.entitlement(tenant.tenant_id).subscription_status == "trialing"
    advance_clock(billing, clock.id, days=11.5)
    status = tenant.get("/api/billing/status").get_json()
    assert status["subscription_status"] == "trialing"
    assert any("trial ends" in n.lower() for n in status["notices"])
    assert db.session.scalar(select(BillingNotice).where(BillingNotice.kind == "trial_will_end")) is not None
    advance_clock(billing, clock.id, days=3)
    status = tenant.get("/api/billing/status").get_json()
    assert status["subscription_status"] == "active" and status["active"] is True
    types = set(db.session.scalars(select(BillingEvent.type)))
    assert {"customer.subscription.trial_will_end", "invoice.paid"} <= types


def test_failed_renewal_drops_to_free_tier_and_a_portal_card_update_restores_the_plan(billing, tenant, db):
    billing.app.config["TRIAL_DAYS"] = 0
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant)
    assert billing.entitlement(tenant.tenant_id).subscription_status == "active"
    url, html = portal_page(tenant)  # the card on file becomes one that attaches but cannot be charged
    submit_form(html, url, "Update card", card_form("4000000000000341"))
    billing.wait_for_webhooks()
    assert billing.entitlement(tenant.tenant_id).active is True
    advance_clock(billing, clock.id, days=31)
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.active, ent.subscription_status, ent.plan) == (False, "past_due", "starter")
    # the free tier still works: analyses are allowed, posting asks for payment
    txns = tenant.post("/api/transactions", json={"transactions": [
        {"id": "t1", "date": "2025-01-02", "description": "Coffee", "amount_cents": -450}]})
    assert txns.status_code in (200, 201)
    assert tenant.post("/api/post/propose", json={"txn_ids": ["t1"]}).status_code == 200
    status = tenant.get("/api/billing/status").get_json()
    assert any("payment failed" in n.lower() for n in status["notices"])
    url, html = portal_page(tenant)
    code, _, _ = submit_form(html, url, "Update card", card_form("4242424242424242"))
    assert code in (200, 302, 303)
    billing.wait_for_webhooks()
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.active, ent.subscription_status) == (True, "active")


def test_cancel_at_period_end_keeps_the_plan_until_the_period_ends_then_drops_to_free(billing, tenant, db):
    billing.app.config["TRIAL_DAYS"] = 0
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant, "pro")
    url, html = portal_page(tenant)
    submit_form(html, url, "Cancel plan", {"action": "cancel"})
    billing.wait_for_webhooks()
    status = tenant.get("/api/billing/status").get_json()
    assert status["active"] is True and status["cancel_at_period_end"] is True and status["plan"] == "pro"
    advance_clock(billing, clock.id, days=32)
    status = tenant.get("/api/billing/status").get_json()
    assert (status["plan"], status["active"], status["subscription_status"]) == ("free", False, "canceled")
    assert status["tx_cap"] == 0


def test_plan_change_in_the_portal_applies_the_new_limits(billing, tenant):
    subscribe(billing, tenant, "starter")
    url, html = portal_page(tenant)
    submit_form(html, url, "Change plan", {"price": billing.catalog["pro"]["price_id"]})
    billing.wait_for_webhooks()
    status = tenant.get("/api/billing/status").get_json()
    assert (status["plan"], status["tx_cap"], status["bulk_approve"], status["included_companies"]) == \
        ("pro", 2000, True, 3)


def test_addon_quantity_change_in_the_portal_updates_addon_companies(billing, tenant):
    subscribe(billing, tenant, "firm", addon_companies=1)
    url, html = portal_page(tenant)
    label = next(label for label in _labels(html) if label.startswith("Add-on"))
    submit_form(html, url, label, {"quantity": "4"})
    billing.wait_for_webhooks()
    assert tenant.get("/api/billing/status").get_json()["addon_companies"] == 4


def _labels(html: str) -> list[str]:
    import re

    return re.findall(r'<form\b[^>]*aria-label="([^"]+)"', html)


def test_final_payment_failure_makes_it_unpaid_and_the_tenant_free_tier(billing, tenant, db):
    clock = renewal_fails(billing, tenant, db)
    for days in (3, 5, 7, 1):  # the emulator's retries: 3, 5 and 7 days after each previous attempt
        advance_clock(billing, clock.id, days=days)
    status = tenant.get("/api/billing/status").get_json()
    assert (status["subscription_status"], status["active"], status["effective_plan"]) == ("unpaid", False, "free")
    commit = tenant.post("/api/post/commit", json={"je_ids": ["je_x"]})
    assert commit.status_code == 402 and commit.get_json()["code"] == "PAYMENT_REQUIRED"


def test_payment_failed_notice_goes_away_once_the_card_works_again(billing, tenant, db):
    clock = renewal_fails(billing, tenant, db)
    assert tenant.get("/api/billing/status").get_json()["notices"]
    url, html = portal_page(tenant)
    submit_form(html, url, "Update card", card_form("4242424242424242"))
    billing.wait_for_webhooks()
    status = tenant.get("/api/billing/status").get_json()
    assert status["active"] is True and status["notices"] == []


def test_a_price_we_do_not_know_keeps_the_event_failed_until_it_is_mapped(billing, tenant, db):
    from sqlalchemy import select

    from webapp.models import BillingEvent

    subscribe(billing, tenant, "starter")
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    product = billing.catalog["pro"]["product_id"]
    stray = billing.stripe.v1.prices.create({"product": product, "unit_amount": 15900, "currency": "usd",
                                             "recurring": {"interval": "month"}})
    item = billing.stripe.v1.subscriptions.retrieve(sub_id)["items"]["data"][0]["id"]
    billing.stripe.v1.subscriptions.update(sub_id, {"items": [{"id": item, "price": stray.id}]})
    billing.wait_for_webhooks()
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.active) == ("starter", True)  # not silently downgraded
    db.session.expire_all()
    failed = db.session.scalars(select(BillingEvent).where(BillingEvent.outcome == "failed")).all()
    assert failed and all("no price of a known plan" in (row.last_error or "") for row in failed)
    billing.stripe.v1.prices.update(stray.id, {"metadata": {"plan": "pro"}})
    result = billing.app.test_cli_runner().invoke(args=["billing", "replay", "--failed"])
    assert result.exit_code == 0 and "'starter' → 'pro'" in result.output
    assert billing.entitlement(tenant.tenant_id).plan == "pro"
