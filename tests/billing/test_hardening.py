"""Issue 11 on the billing side: notices follow state (4), claims (7), the Host header (8), future timestamps (9)."""
from __future__ import annotations

import itertools
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.billing.helpers import advance_clock, card_form, http, post_event, put_on_test_clock, submit_form, subscribe
from tests.billing.test_webhook import count_events, make_event
from webapp import clock
from webapp.billing import events
from webapp.models import BillingEvent, BillingNotice


def live_notices(db, tenant_id: str) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(BillingNotice.kind).where(BillingNotice.tenant_id == tenant_id,
                                                                    BillingNotice.dismissed_at.is_(None))))


def portal(tenant) -> tuple[str, str]:
    url = tenant.get("/api/billing/portal", headers={"Accept": "application/json"}).get_json()["url"]
    _, _, html = http("GET", url)
    return url, html


def fail_a_renewal(billing, tenant, db) -> None:
    """Subscribe with no trial, switch to a card that cannot be charged, and let the renewal fail."""
    billing.app.config["TRIAL_DAYS"] = 0
    test_clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant)
    submit_form(*reversed(portal(tenant)), "Update card", card_form("4000000000000341"))
    billing.wait_for_webhooks()
    advance_clock(billing, test_clock.id, days=31)


def failure_then_recovery_events(billing, tenant, db) -> list[dict]:
    """Run a failed renewal and a card fix; return its four events: failed, past_due, paid, active again."""
    fail_a_renewal(billing, tenant, db)
    submit_form(*reversed(portal(tenant)), "Update card", card_form("4242424242424242"))
    billing.wait_for_webhooks()
    stored = [json.loads(str(e)) for e in billing.stripe.v1.events.list({"limit": 100}).data]
    stored.sort(key=lambda e: e["created"])

    def last(kind: str, status: str | None = None) -> dict:
        return [e for e in stored if e["type"] == kind
                and (status is None or e["data"]["object"].get("status") == status)][-1]

    return [last("invoice.payment_failed"), last("customer.subscription.updated", "past_due"),
            last("invoice.paid"), last("customer.subscription.updated", "active")]


def test_every_order_of_a_failure_and_recovery_ends_with_no_stale_notice(billing, tenant, db):
    story = failure_then_recovery_events(billing, tenant, db)
    assert billing.entitlement(tenant.tenant_id).subscription_status == "active"
    assert live_notices(db, tenant.tenant_id) == []
    client = billing.app.test_client()
    for n, order in enumerate(itertools.permutations(story)):
        for event in order:  # the same events again, as new deliveries (new ids), in this order
            assert post_event(client, {**event, "id": f"{event['id']}_p{n}"}).status_code == 200
        assert live_notices(db, tenant.tenant_id) == [], [e["type"] for e in order]
        assert billing.entitlement(tenant.tenant_id).subscription_status == "active"


def test_a_payment_failure_while_past_due_still_shows_its_notice(billing, tenant, db):
    fail_a_renewal(billing, tenant, db)
    assert billing.entitlement(tenant.tenant_id).subscription_status == "past_due"
    assert live_notices(db, tenant.tenant_id) == ["payment_failed"]


def test_trial_will_end_delivered_after_the_trial_ended_adds_no_notice(billing, tenant, db):
    billing.app.config["TRIAL_DAYS"] = 0
    subscribe(billing, tenant)
    ent = billing.entitlement(tenant.tenant_id)
    sub = json.loads(str(billing.stripe.v1.subscriptions.retrieve(ent.stripe_subscription_id)))
    assert sub["status"] == "active"
    late = make_event("evt_late_trial", "customer.subscription.trial_will_end",
                      {**sub, "status": "trialing", "trial_end": int(time.time()) + 3 * 86400})
    assert post_event(billing.app.test_client(), late).status_code == 200
    assert live_notices(db, tenant.tenant_id) == []


# --- Finding 9: webhook timestamps in the future ------------------------------------------------------

def test_webhook_signed_more_than_300_s_in_the_future_is_400_and_stores_nothing(billing, db):
    resp = post_event(billing.app.test_client(), make_event("evt_future"), timestamp=int(time.time()) + 301 + 5)
    assert resp.status_code == 400 and resp.get_json()["code"] == "BAD_SIGNATURE"
    assert "future" in resp.get_json()["message"]
    assert count_events(db) == 0


def test_webhook_signed_a_little_in_the_future_is_accepted(billing, db):
    resp = post_event(billing.app.test_client(), make_event("evt_skew"), timestamp=int(time.time()) + 60)
    assert resp.status_code == 200


# --- Finding 7: claims ----------------------------------------------------------------------------------

def test_a_redelivery_of_an_event_another_worker_holds_answers_409_at_once(billing, db):
    event = make_event("evt_held")
    events.store(event)  # another worker has it, claimed now, and is still working on it
    started = time.monotonic()
    resp = post_event(billing.app.test_client(), event)
    waited = time.monotonic() - started
    assert resp.status_code == 409 and resp.get_json()["code"] == "EVENT_IN_PROGRESS"
    assert waited < 2.5  # answered at once, not after holding a worker thread for seconds
    row = db.session.scalars(select(BillingEvent)).one()
    assert not row.processed and row.deliveries == 2


def test_a_claim_expires_after_the_request_timeout_not_minutes(billing, db):
    billing.app.config["REQUEST_TIMEOUT_SECONDS"] = 60
    event = make_event("evt_dead_worker")
    row, _ = events.store(event)  # the worker that took it was killed 61 s ago
    db.session.execute(BillingEvent.__table__.update().where(BillingEvent.id == row.id)
                       .values(processing_started_at=clock.now() - timedelta(seconds=61)))
    db.session.commit()
    resp = post_event(billing.app.test_client(), event)
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "ignored"


def test_a_claim_younger_than_the_request_timeout_still_holds(billing, db):
    billing.app.config["REQUEST_TIMEOUT_SECONDS"] = 60
    event = make_event("evt_live_worker")
    row, _ = events.store(event)
    db.session.execute(BillingEvent.__table__.update().where(BillingEvent.id == row.id)
                       .values(processing_started_at=clock.now() - timedelta(seconds=50)))
    db.session.commit()
    assert post_event(billing.app.test_client(), event).status_code == 409


# --- Finding 8: the Host header never sets Checkout's or the Portal's return links -----------------------

class TestWithoutReturnUrl:
    @pytest.fixture
    def billing_overrides(self):
        return {"BILLING_RETURN_URL": None}

    def test_checkout_with_a_forged_host_and_no_configured_url_is_refused(self, billing, tenant):
        resp = tenant.post("/api/billing/checkout", json={"plan": "starter"}, headers={"Host": "evil.example"})
        assert resp.status_code == 503 and resp.get_json()["code"] == "BILLING_UNAVAILABLE"
        assert "BILLING_RETURN_URL" in resp.get_json()["message"]
        sessions = billing.stripe.v1.checkout.sessions.list({"limit": 10}).data
        assert not any("evil" in (s.success_url or "") for s in sessions)


class TestServerName:
    @pytest.fixture
    def billing_overrides(self):
        return {"BILLING_RETURN_URL": None, "SERVER_NAME": "books.example.com", "PREFERRED_URL_SCHEME": "https"}

    def test_checkout_and_portal_return_to_server_name_whatever_the_host_header(self, billing, tenant):
        web = billing.app.test_client()
        resp = web.post("/api/billing/checkout", json={"plan": "starter"},
                        headers={"Authorization": f"Bearer {tenant.token}", "Host": "evil.example"})
        assert resp.status_code == 200, resp.get_json()
        cs = billing.stripe.v1.checkout.sessions.retrieve(resp.get_json()["session_id"])
        assert cs.success_url.startswith("https://books.example.com/billing/success?session_id=")
        assert cs.cancel_url.startswith("https://books.example.com/billing/plans")
        portal_url = web.get("/api/billing/portal", headers={"Authorization": f"Bearer {tenant.token}",
                                                             "Host": "evil.example",
                                                             "Accept": "application/json"}).get_json()["url"]
        _, _, html = http("GET", portal_url)
        assert "https://books.example.com/billing" in html and "evil.example" not in html
