"""Events in any order end in the right state; a stale copy never overwrites newer state."""
from __future__ import annotations

import json
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
