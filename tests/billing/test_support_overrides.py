"""Overrides against live Stripe traffic, known webhook failures, and replay's outcomes and exit codes."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select

import webapp.clock
from tests.billing.helpers import card_form, post_event, submit_form, subscribe
from tests.billing.test_lifecycle import portal_page, renewal_fails
from tests.test_support_tools import dump
from webapp.billing import stripe_gateway
from webapp.errors import BillingUnavailable
from webapp.models import BillingAudit, BillingEvent, EntitlementOverride


def cli(billing, *args: str):
    return billing.app.test_cli_runner().invoke(args=list(args))


def effective(tenant) -> str:
    return tenant.get("/api/billing/status").get_json()["effective_plan"]


def event_row(db, event_id: str) -> BillingEvent:
    db.session.expire_all()
    return db.session.scalars(select(BillingEvent).where(BillingEvent.event_id == event_id)).one()


def test_an_override_survives_a_webhook_and_a_reconcile_and_ends_at_its_until(billing, tenant, db, monkeypatch):
    billing.app.config["TRIAL_DAYS"] = 0
    subscribe(billing, tenant, "starter")
    result = cli(billing, "billing", "set-entitlement", tenant.tenant_id, "--plan", "pro", "--days", "3",
                 "--reason", "sales trial of pro")
    assert result.exit_code == 0 and "! Stripe says starter (active)" in result.output
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    billing.stripe.v1.subscriptions.update(sub_id, {"cancel_at_period_end": True})  # a webhook arrives
    billing.wait_for_webhooks()
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.cancel_at_period_end) == ("starter", True)  # Stripe's news recorded...
    assert effective(tenant) == "pro"  # ...and the override still decides
    reconciled = cli(billing, "billing", "reconcile", tenant.email, "--json")
    assert reconciled.exit_code == 0
    [report] = json.loads(reconciled.output)
    assert report["tenant_id"] == tenant.tenant_id and "an override is in force" in report["outcome"]
    assert cli(billing, "billing", "reconcile", "ghost@example.com").exit_code == 2
    assert effective(tenant) == "pro"
    calls = []
    real_call = stripe_gateway.StripeGateway._retrieve_or_none
    monkeypatch.setattr(stripe_gateway.StripeGateway, "_retrieve_or_none",
                        lambda self, fn: calls.append(1) or real_call(self, fn))
    shown = cli(billing, "billing", "show", tenant.tenant_id).output
    assert "set by an override" in shown and "Stripe (now): starter · active" in shown and len(calls) == 1
    later = webapp.clock.now() + timedelta(days=3, minutes=1)
    monkeypatch.setattr(webapp.clock, "now", lambda: later)
    assert effective(tenant) == "starter"
    from webapp import scheduler

    assert scheduler.run_override_expiry(billing.app) == 1
    db.session.expire_all()
    assert db.session.scalars(select(EntitlementOverride)).one().end_reason == "until reached"


def test_the_reactivation_override_ends_on_the_next_paid_invoice(billing, tenant, db):
    renewal_fails(billing, tenant, db)  # past_due, free tier
    assert billing.entitlement(tenant.tenant_id).subscription_status == "past_due" and effective(tenant) == "free"
    result = cli(billing, "billing", "reactivate", tenant.email)
    assert result.output.splitlines()[0] == f"✓ Reactivated subscription for {tenant.tenant_id}"
    assert effective(tenant) == "starter"
    url, html = portal_page(tenant)  # the customer fixes the card: Stripe retries and the invoice is paid
    submit_form(html, url, "Update card", card_form("4242424242424242"))
    billing.wait_for_webhooks()
    db.session.expire_all()
    ovr = db.session.scalars(select(EntitlementOverride)).one()
    assert ovr.ended_at is not None and ovr.ended_by == "webhook" and ovr.end_reason.endswith("paid")
    status = tenant.get("/api/billing/status").get_json()
    assert (status["effective_plan"], status["subscription_status"], status["override"]) == ("starter", "active", None)
    ended = db.session.scalars(select(BillingAudit).where(BillingAudit.action == "override_ended")).one()
    assert ended.event_id and json.loads(ended.before_json)["override"]["ends_on_paid_invoice"] is True


def stray_price_event(billing, tenant) -> tuple[dict, str]:
    """A subscription.updated event whose subscription now has a price no plan is sold at."""
    subscribe(billing, tenant, "starter")
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    stray = billing.stripe.v1.prices.create({"product": billing.catalog["pro"]["product_id"], "unit_amount": 15900,
                                             "currency": "usd", "recurring": {"interval": "month"}})
    item = billing.stripe.v1.subscriptions.retrieve(sub_id)["items"]["data"][0]["id"]
    billing.stripe.v1.subscriptions.update(sub_id, {"items": [{"id": item, "price": stray.id}]})
    billing.wait_for_webhooks()
    sub = json.loads(str(billing.stripe.v1.subscriptions.retrieve(sub_id)))
    return {"id": "evt_stray_price", "object": "event", "type": "customer.subscription.updated",
            "created": sub["created"] + 5, "data": {"object": sub}, "livemode": False}, stray.id


def test_an_unknown_price_event_is_stored_with_its_cause_and_one_error_line_without_traceback(billing, tenant, db,
                                                                                             webapp_log):
    event, _ = stray_price_event(billing, tenant)
    webapp_log.records[:] = []
    resp = post_event(billing.app.test_client(), event)
    assert resp.status_code == 500
    body = resp.get_json()
    assert (body["code"], body["cause"]) == ("WEBHOOK_FAILED", "UNKNOWN_PRICE") and "replay" in body["fix"]
    errors = [r for r in webapp_log.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and errors[0].getMessage() == "webhook.failed"
    assert errors[0].cause == "UNKNOWN_PRICE" and "flask billing replay" in errors[0].fix
    row = event_row(db, "evt_stray_price")
    assert row.outcome == "failed" and row.tenant_id == tenant.tenant_id
    assert row.last_error.startswith("UNKNOWN_PRICE: subscription sub_") and "(fix: map the price" in row.last_error
    listed = cli(billing, "billing", "events", "--failed", "--tenant", tenant.tenant_id).output
    assert "evt_stray_price" in listed and "last error: UNKNOWN_PRICE" in listed
    assert "last error: UNKNOWN_PRICE" in cli(billing, "billing", "show", tenant.tenant_id, "--offline").output


def test_stripe_unreachable_is_a_known_failure_and_an_unexpected_one_keeps_its_traceback(billing, tenant, db,
                                                                                        webapp_log, monkeypatch):
    subscribe(billing, tenant, "starter")
    sub = json.loads(str(billing.stripe.v1.subscriptions.retrieve(
        billing.entitlement(tenant.tenant_id).stripe_subscription_id)))
    event = {"id": "evt_down", "object": "event", "type": "customer.subscription.updated",
             "created": sub["created"] + 5, "data": {"object": sub}, "livemode": False}

    def down(self, sid):
        raise BillingUnavailable("Stripe did not answer; try again shortly.")

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", down)
    webapp_log.records[:] = []
    down_answer = post_event(billing.app.test_client(), event)
    assert (down_answer.status_code, down_answer.get_json()["cause"]) == (503, "STRIPE_UNREACHABLE")
    errors = [r for r in webapp_log.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert event_row(db, "evt_down").last_error.startswith("STRIPE_UNREACHABLE: Stripe did not answer")

    def broken(self, sid):
        raise RuntimeError("a bug")

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", broken)
    webapp_log.records[:] = []
    assert post_event(billing.app.test_client(), {**event, "id": "evt_bug"}).status_code == 500
    errors = [r for r in webapp_log.records if r.levelno >= logging.ERROR]
    assert errors and errors[0].exc_info is not None  # unexpected: the traceback is kept
    assert event_row(db, "evt_bug").last_error == "RuntimeError: a bug"


def test_an_event_for_a_customer_no_tenant_has_fails_with_no_tenant(billing, db, webapp_log):
    sub = {"id": "sub_orphan", "object": "subscription", "customer": "cus_orphan", "status": "active",
           "metadata": {}, "items": {"data": []}}
    event = {"id": "evt_orphan_sub", "object": "event", "type": "customer.subscription.updated",
             "created": 1_900_000_000, "data": {"object": sub}, "livemode": False}
    resp = post_event(billing.app.test_client(), event)
    assert resp.status_code == 500 and resp.get_json()["cause"] == "NO_TENANT"
    assert event_row(db, "evt_orphan_sub").last_error.startswith("NO_TENANT: no tenant for customer cus_orphan")
    assert [r.exc_info for r in webapp_log.records if r.levelno >= logging.ERROR] == [None]


def test_replay_prints_each_event_and_exits_1_while_one_still_fails_then_0(billing, tenant, db, webapp_log):
    event, stray = stray_price_event(billing, tenant)
    post_event(billing.app.test_client(), event)
    attempts = event_row(db, "evt_stray_price").attempts
    before, webapp_log.records[:] = dump(), []
    dry = cli(billing, "billing", "replay", "--failed", "--dry-run")
    assert dry.exit_code == 1
    assert "evt_stray_price customer.subscription.updated" in dry.output and "failed: UNKNOWN_PRICE" in dry.output
    assert dump() == before and webapp_log.max_level <= logging.INFO  # no attempt counted, no ERROR logged
    still = cli(billing, "billing", "replay", "--failed", "--json")
    assert still.exit_code == 1
    outcomes = json.loads(still.output)  # ours, and the emulator's own delivery of the same change
    assert "evt_stray_price" in [o["event_id"] for o in outcomes]
    assert {(o["outcome"], o["cause"]) for o in outcomes} == {("failed", "UNKNOWN_PRICE")}
    assert event_row(db, "evt_stray_price").attempts == attempts + 1
    billing.stripe.v1.prices.update(stray, {"metadata": {"plan": "pro"}})
    before, webapp_log.records[:] = dump(), []
    dry = cli(billing, "billing", "replay", "--failed", "--dry-run")
    assert dry.exit_code == 0 and "would apply: would change " in dry.output and "plan 'starter' → 'pro'" in dry.output
    assert dump() == before and webapp_log.max_level <= logging.INFO
    done = cli(billing, "billing", "replay", "--failed", "--reason", "price mapped", "--actor", "dana")
    assert done.exit_code == 0 and "evt_stray_price customer.subscription.updated" in done.output
    assert f"{len(outcomes)} event(s): {len(outcomes)} ok, 0 still failing" in done.output
    audit = db.session.scalars(select(BillingAudit).where(BillingAudit.reason == "price mapped")).one()
    assert audit.actor == "dana (flask billing replay)" and json.loads(audit.after_json)["plan"] == "pro"


def test_show_finds_a_subscription_stripe_has_but_the_app_never_linked(billing, tenant, db):
    subscribe(billing, tenant, "starter")
    ent = billing.entitlement(tenant.tenant_id)
    sub_id, ent.stripe_subscription_id = ent.stripe_subscription_id, None  # as if every webhook was lost
    db.session.commit()
    body = json.loads(cli(billing, "billing", "show", tenant.email, "--json").output)
    assert body["stripe_now"]["checked"] and body["stripe_now"]["subscription_id"] == sub_id
    assert f"subscription {sub_id} is not linked here" in cli(billing, "billing", "show", tenant.email).output
