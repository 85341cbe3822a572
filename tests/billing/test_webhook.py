"""The webhook endpoint: verified, stored before acting, applied once, in any order, replayable."""
from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.billing.helpers import post_event, subscribe
from webapp.billing import stripe_gateway
from webapp.models import BillingAudit, BillingEvent


def count_events(db) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(BillingEvent))


def make_event(event_id: str = "evt_test_1", type_: str = "customer.created", obj: dict | None = None,
               created: int | None = None) -> dict:
    return {"id": event_id, "object": "event", "type": type_, "created": created or int(time.time()),
            "api_version": "2026-10-28", "livemode": False, "pending_webhooks": 1, "request": None,
            "data": {"object": obj or {"id": "cus_x", "object": "customer", "metadata": {}}}}


def test_unhandled_event_type_is_stored_and_acknowledged_as_ignored(billing, db):
    resp = post_event(billing.app.test_client(), make_event())
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "ignored"
    row = db.session.scalars(select(BillingEvent)).one()
    assert row.processed and row.outcome == "ignored" and row.type == "customer.created"
    assert json.loads(row.payload_json)["id"] == "evt_test_1"


def test_an_event_is_kept_as_the_exact_text_stripe_signed(billing, db):
    """Stripe's own layout (its indentation, its key order, its escapes), not a re-serialisation of it."""
    body = json.dumps(make_event("evt_exact"), indent=2, sort_keys=True, ensure_ascii=True).replace(
        '"customer.created"', '"customer.\\u0063reated"').encode()
    assert post_event(billing.app.test_client(), body).get_json()["outcome"] == "ignored"
    row = db.session.scalars(select(BillingEvent)).one()
    assert row.payload_json == body.decode() and row.type == "customer.created"


@pytest.mark.parametrize("header", ["", "t=1,v1=deadbeef", "garbage", "v1=abc"])
def test_bad_or_missing_signature_is_400_and_stores_nothing(billing, db, header):
    client = billing.app.test_client()
    resp = post_event(client, make_event(), header=header)
    assert resp.status_code == 400 and resp.get_json()["code"] == "BAD_SIGNATURE"
    assert count_events(db) == 0


def test_signature_made_with_another_secret_is_400(billing, db):
    resp = post_event(billing.app.test_client(), make_event(), secret="whsec_someone_else")
    assert resp.status_code == 400 and count_events(db) == 0


def test_expired_timestamp_is_400_and_stores_nothing(billing, db):
    resp = post_event(billing.app.test_client(), make_event(), timestamp=int(time.time()) - 301)
    assert resp.status_code == 400 and resp.get_json()["code"] == "BAD_SIGNATURE"
    assert count_events(db) == 0


@pytest.mark.parametrize("body", [b"{not json", b"[1,2]", b'{"id": "evt_1"}', b'{"object": "event", "id": 5}'])
def test_signed_body_that_is_not_an_event_is_400_and_stores_nothing(billing, db, body):
    resp = post_event(billing.app.test_client(), body)
    assert resp.status_code == 400 and resp.get_json()["code"] == "INVALID_EVENT"
    assert count_events(db) == 0


def test_rejected_deliveries_are_logged_and_counted(billing):
    from webapp.billing.webhook import REJECTED

    before = sum(REJECTED.values())
    post_event(billing.app.test_client(), make_event(), header="t=1,v1=00")
    assert sum(REJECTED.values()) == before + 1


def test_the_same_event_delivered_twice_is_applied_once(billing, db):
    client = billing.app.test_client()
    event = make_event()
    first, second = post_event(client, event), post_event(client, event)
    assert first.status_code == second.status_code == 200
    assert second.get_json()["outcome"] == "duplicate"
    row = db.session.scalars(select(BillingEvent)).one()
    assert row.deliveries == 2 and row.attempts == 1


def test_the_same_event_delivered_twice_at_once_is_applied_once(billing, db, tenant):
    """Two deliveries of one subscription event racing: one applies it; the other answers 200 (it came after)
    or 409 at once (it came while the first held the event: Stripe retries it later)."""
    subscribe(billing, tenant)
    ent = billing.entitlement(tenant.tenant_id)
    sub = billing.stripe.v1.subscriptions.retrieve(ent.stripe_subscription_id)
    ent.plan, ent.active, ent.tx_cap = "free", False, 0  # drift, so applying the event changes something
    db.session.commit()
    event = make_event("evt_race", "customer.subscription.updated", json.loads(str(sub)))
    barrier = threading.Barrier(2)
    results: list[int] = []

    def deliver() -> None:
        client = billing.app.test_client()
        barrier.wait()
        results.append(post_event(client, event).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) in ([200, 200], [200, 409])
    db.session.expire_all()
    row = db.session.scalars(select(BillingEvent).where(BillingEvent.event_id == "evt_race")).one()
    assert row.attempts == 1 and row.deliveries == 2 and row.processed
    audits = db.session.scalars(select(BillingAudit).where(BillingAudit.event_id == "evt_race")).all()
    assert len(audits) == 1
    assert billing.entitlement(tenant.tenant_id).plan == "starter"


def test_processing_failure_keeps_the_event_unprocessed_with_the_error_and_answers_500(billing, db, tenant,
                                                                                       monkeypatch):
    event = make_event("evt_fail", "customer.subscription.updated",
                       {"id": "sub_missing", "object": "subscription", "customer": "cus_missing",
                        "status": "active", "metadata": {"tenant_id": tenant.tenant_id}, "items": {"data": []}})

    def broken(self, subscription_id):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", broken)
    resp = post_event(billing.app.test_client(), event)
    assert resp.status_code == 500
    db.session.expire_all()
    row = db.session.scalars(select(BillingEvent)).one()
    assert not row.processed and row.outcome == "failed" and "database hiccup" in row.last_error
    assert row.attempts == 1


def test_a_body_that_is_not_utf8_is_400_not_500(billing, db):
    resp = post_event(billing.app.test_client(), b"\xff\xfe{", header="t=1,v1=00")
    assert resp.status_code == 400 and count_events(db) == 0


@pytest.mark.parametrize("patch", [{"created": 10**13}, {"created": True}, {"id": ""}, {"type": 5},
                                   {"data": {"object": "x"}}])
def test_a_signed_event_with_impossible_fields_is_400_and_stores_nothing(billing, db, patch):
    resp = post_event(billing.app.test_client(), {**make_event(), **patch})
    assert resp.status_code == 400 and resp.get_json()["code"] == "INVALID_EVENT"
    assert count_events(db) == 0


@pytest.mark.parametrize("depth", [40, 100_000])  # past our limit; past the interpreter's recursion limit
def test_a_signed_event_nested_too_deeply_is_400_and_stores_nothing(billing, db, depth):
    event = json.dumps(make_event())
    body = (event[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}").encode()
    resp = post_event(billing.app.test_client(), body)
    assert resp.status_code == 400 and resp.get_json()["code"] == "INVALID_EVENT"
    assert "nests deeper than" in resp.get_json()["message"]
    assert count_events(db) == 0


def test_a_worker_whose_claim_expired_cannot_mark_the_event_done_a_second_time(billing, db, tenant):
    from datetime import timedelta

    from webapp import clock
    from webapp.billing import events
    from webapp.errors import DomainError

    event = make_event("evt_slow_worker")
    row, first_claim = events.store(event)  # the first worker takes the claim, then stalls
    db.session.execute(BillingEvent.__table__.update().where(BillingEvent.id == row.id)
                       .values(processing_started_at=clock.now() - timedelta(minutes=6)))
    db.session.commit()
    stale_claim = clock.now() - timedelta(minutes=6)
    assert post_event(billing.app.test_client(), event).get_json()["outcome"] == "ignored"  # a redelivery takes over
    db.session.expire_all()
    with pytest.raises(DomainError) as info:
        events.process(db.session.get(BillingEvent, row.id), event, "webhook", stale_claim)
    assert info.value.code == "EVENT_IN_PROGRESS"
    db.session.expire_all()
    done = db.session.get(BillingEvent, row.id)
    assert done.processed and done.attempts == 2 and done.outcome == "ignored"


def test_replay_picks_up_an_event_whose_worker_died_mid_way(billing, db):
    from datetime import timedelta

    from webapp import clock
    from webapp.billing import events

    row, _ = events.store(make_event("evt_orphan"))  # stored and claimed, then the process died
    db.session.execute(BillingEvent.__table__.update().where(BillingEvent.id == row.id)
                       .values(processing_started_at=clock.now() - timedelta(minutes=6)))
    db.session.commit()
    result = billing.app.test_cli_runner().invoke(args=["billing", "replay", "--failed"])
    assert "evt_orphan" in result.output and "ignored" in result.output
    db.session.expire_all()
    assert db.session.get(BillingEvent, row.id).processed


def test_the_gateway_reads_a_subscription_as_the_plain_json_a_webhook_carries(billing, tenant):
    """retrieve_subscription skips the library's objects: the same dicts, card expanded, as the API's JSON."""
    subscribe(billing, tenant)
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    with billing.app.app_context():
        gw = stripe_gateway.gateway()
        read = gw.retrieve_subscription(sub_id)
        listed = gw.list_subscriptions(read["customer"])
        missing = gw.retrieve_subscription("sub_nope")
    library = billing.stripe.v1.subscriptions.retrieve(sub_id, {"expand": ["default_payment_method"]})
    assert read == json.loads(str(library))
    assert not any(hasattr(obj, "to_dict") for obj in (read, read["items"]["data"][0], read["default_payment_method"]))
    assert isinstance(read["default_payment_method"], dict) and read["default_payment_method"]["card"]["last4"]
    assert [s["id"] for s in listed] == [sub_id] and not hasattr(listed[0], "to_dict")
    assert missing is None
