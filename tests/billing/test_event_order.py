"""Events in any order end in the right state; a stale copy never overwrites newer state."""
from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.billing.helpers import http, post_event, submit_form, subscribe
from webapp.billing.subscriptions import apply_subscription

OWN_SECRET = "whsec_delivered_by_the_test_itself"


@pytest.fixture
def billing_overrides():
    # The emulator's own deliveries are refused (wrong secret): the test delivers every event itself.
    return {"STRIPE_WEBHOOK_SECRET": OWN_SECRET}


def run_a_subscription_story(billing, tenant) -> None:
    """Subscribe to starter, change to pro in the portal, then cancel at period end."""
    subscribe(billing, tenant, "starter")
    url = tenant.get("/api/billing/portal", headers={"Accept": "application/json"}).get_json()["url"]
    _, _, html = http("GET", url)
    submit_form(html, url, "Change plan", {"price": billing.catalog["pro"]["price_id"]})
    _, _, html = http("GET", url)
    submit_form(html, url, "Cancel plan", {"action": "cancel"})
    billing.wait_for_webhooks()


@pytest.mark.parametrize("order", ["reversed", "shuffled-1", "shuffled-2", "shuffled-3"])
def test_events_delivered_in_any_order_end_in_the_subscriptions_final_state(billing, tenant, order):
    # Checkout's success return is not followed here, so nothing reaches the app but these events.
    run_a_subscription_story(billing, tenant)
    assert billing.entitlement(tenant.tenant_id).plan == "free"
    events = [json.loads(str(e)) for e in billing.stripe.v1.events.list({"limit": 100}).data]
    assert len({e["type"] for e in events}) >= 4
    if order == "reversed":
        events.sort(key=lambda e: e["created"])
        events.reverse()
    else:
        random.Random(order).shuffle(events)
    client = billing.app.test_client()
    for event in events:
        assert post_event(client, event, secret=OWN_SECRET).status_code == 200
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.active, ent.tx_cap, ent.cancel_at_period_end) == ("pro", True, 2000, True)


def test_a_stale_payload_never_overwrites_newer_state(billing, tenant, db):
    subscribe(billing, tenant, "pro")
    ent = billing.entitlement(tenant.tenant_id)
    sub = json.loads(str(billing.stripe.v1.subscriptions.list({"customer": ent.stripe_customer_id}).data[0]))
    newest = datetime.now(UTC)
    apply_subscription(sub, actor="test", event_created=newest, fresh=False)
    db.session.commit()
    stale = {**sub, "status": "past_due"}
    result = apply_subscription(stale, actor="test", event_created=newest - timedelta(minutes=5), fresh=False)
    db.session.commit()
    assert result.stale
    assert billing.entitlement(tenant.tenant_id).subscription_status in ("active", "trialing")


def deliver_all_events(billing) -> None:
    client = billing.app.test_client()
    for e in sorted((json.loads(str(e)) for e in billing.stripe.v1.events.list({"limit": 100}).data),
                    key=lambda e: e["created"]):
        assert post_event(client, e, secret=OWN_SECRET).status_code == 200


def test_two_different_events_for_one_tenant_at_once_end_in_stripes_current_state(billing, tenant, monkeypatch):
    """A slow read of the old state must not be written after a newer one (the read-time order guard)."""
    import threading
    import time

    from webapp.billing import stripe_gateway

    subscribe(billing, tenant, "starter")
    deliver_all_events(billing)
    ent = billing.entitlement(tenant.tenant_id)
    assert ent.plan == "starter"
    sub_id = ent.stripe_subscription_id
    item = billing.stripe.v1.subscriptions.retrieve(sub_id)["items"]["data"][0]["id"]
    billing.stripe.v1.subscriptions.update(sub_id, {"items": [{"id": item, "price": billing.catalog["pro"]["price_id"]}]})
    old = json.loads(str(billing.stripe.v1.subscriptions.retrieve(sub_id)))  # pro: soon out of date
    billing.stripe.v1.subscriptions.update(sub_id, {"items": [{"id": item, "price": billing.catalog["firm"]["price_id"]}]})
    new = json.loads(str(billing.stripe.v1.subscriptions.retrieve(sub_id)))  # firm: Stripe's current state
    real = stripe_gateway.StripeGateway.retrieve_subscription
    reading = threading.Event()

    def retrieve(self, sid):
        if threading.current_thread().name == "slow":  # a read that happened before the plan change
            reading.set()  # the slow delivery's read began before the other's (no lock is held while reading)
            time.sleep(0.4)
            return old
        return real(self, sid)

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", retrieve)
    invoice_paid = {"id": "evt_slow_invoice", "object": "event", "type": "invoice.paid", "created": new["created"] + 5,
                    "data": {"object": {"id": "in_x", "object": "invoice", "customer": new["customer"],
                                        "parent": {"subscription_details": {"subscription": sub_id}}}}}
    updated = {"id": "evt_plan_change", "object": "event", "type": "customer.subscription.updated",
               "created": new["created"] + 6, "data": {"object": new}}

    def deliver(event):
        assert post_event(billing.app.test_client(), event, secret=OWN_SECRET).status_code == 200

    slow = threading.Thread(target=deliver, args=(invoice_paid,), name="slow")
    slow.start()
    assert reading.wait(10)  # not a fixed sleep: on a busy machine the slow thread may start late
    deliver(updated)
    slow.join()
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.tx_cap) == ("firm", 10000)


def test_reconcile_finds_a_subscription_whose_webhooks_were_all_lost(billing, tenant):
    subscribe(billing, tenant, "pro")  # every delivery refused, and the success page never visited
    assert billing.entitlement(tenant.tenant_id).plan == "free"
    result = billing.app.test_cli_runner().invoke(args=["billing", "reconcile"])
    assert result.exit_code == 0 and "drift fixed" in result.output
    ent = billing.entitlement(tenant.tenant_id)
    assert (ent.plan, ent.active) == ("pro", True)


def test_every_log_line_written_while_handling_a_webhook_names_it(billing, tenant):
    import pathlib

    log_file = pathlib.Path(billing.app.config["STRIPE_PRODUCTS_FILE"]).with_name("webhook.log")
    handler = logging.FileHandler(log_file)
    from webapp.logs import ContextFilter, JsonFormatter

    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("webapp")
    logger.addHandler(handler)
    try:
        subscribe(billing, tenant, "starter")
        deliver_all_events(billing)
    finally:
        logger.removeHandler(handler)
        handler.close()
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    billing_lines = [r for r in lines if r["logger"].startswith(("webapp.billing.events", "webapp.billing.subscriptions",
                                                                 "webapp.billing.notices"))]
    assert billing_lines
    for record in billing_lines:
        assert "webhook" in json.dumps(record) and record.get("event_id") and record.get("type"), record
