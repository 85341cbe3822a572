"""Subscription events of one tenant share Stripe reads: one delivery reads, the others queue for its next read.

A read covers the events stored before it began (Stripe had sent them, so its state includes them),
never one stored after; nothing queued is lost when the reader fails, dies or lets go of the lease.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select, update

from tests.billing.helpers import post_event, signature_header, subscribe
from webapp import clock
from webapp.billing import background, events, stripe_gateway, sync_lease
from webapp.models import BillingEvent, Entitlement


def subscription_of(billing, tenant) -> dict[str, Any]:
    """The tenant's live subscription as a webhook carries it."""
    sub_id = billing.entitlement(tenant.tenant_id).stripe_subscription_id
    return json.loads(str(billing.stripe.v1.subscriptions.retrieve(sub_id)))


def sub_event(event_id: str, sub: dict[str, Any], type_: str = "customer.subscription.updated") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": type_, "created": int(time.time()), "livemode": False,
            "data": {"object": sub}}


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every subscription read the app makes from Stripe, in order (the real read still happens)."""
    seen: list[str] = []
    original = stripe_gateway.StripeGateway.retrieve_subscription

    def counted(self, subscription_id):
        seen.append(subscription_id)
        return original(self, subscription_id)

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", counted)
    return seen


def rows(db) -> dict[str, BillingEvent]:
    db.session.expire_all()
    return {r.event_id: r for r in db.session.scalars(select(BillingEvent).where(BillingEvent.event_id.like("evt_co_%")))}


def lease_of(db, tenant_id: str):
    db.session.expire_all()
    return db.session.get(Entitlement, tenant_id).sync_lease_at


def hold_lease(billing, tenant_id: str):
    with billing.app.app_context():
        lease = sync_lease.take(tenant_id)
    assert lease is not None
    return lease


@dataclass(frozen=True)
class Reading:
    """A subscribed tenant whose read lease another delivery holds: its subscription (as a webhook carries
    it) and that lease."""

    sub: dict[str, Any]
    lease: datetime


@pytest.fixture
def reading(billing, tenant) -> Reading:
    subscribe(billing, tenant, "starter")
    sub = subscription_of(billing, tenant)
    return Reading(sub, hold_lease(billing, tenant.tenant_id))


def test_an_event_delivered_while_another_delivery_reads_the_tenant_is_queued_and_answered_at_once(
        billing, tenant, db, reading, reads):
    sub = reading.sub
    reads.clear()
    resp = post_event(billing.app.test_client(), sub_event("evt_co_queued", sub))
    assert resp.status_code == 200 and resp.get_json() == {"received": "evt_co_queued", "outcome": "queued"}
    row = rows(db)["evt_co_queued"]
    assert (row.outcome, row.processed, row.processing_started_at) == ("queued", False, None)
    assert (row.tenant_id, row.subscription_id) == (tenant.tenant_id, sub["id"])
    assert reads == []  # no Stripe call: the holder's next read covers it


def test_the_holders_next_read_applies_every_queued_event_with_one_stripe_call_and_frees_the_lease(
        billing, tenant, db, reading, reads):
    sub = reading.sub
    lease = reading.lease
    for n in range(3):
        assert post_event(billing.app.test_client(), sub_event(f"evt_co_{n}", sub)).get_json()["outcome"] == "queued"
    billing.stripe.v1.subscriptions.update(sub["id"], {"items": [{"id": sub["items"]["data"][0]["id"],
                                                                  "price": billing.catalog["pro"]["price_id"]}]})
    billing.wait_for_webhooks()
    reads.clear()
    with billing.app.app_context():
        events.drain_queued(tenant.tenant_id, lease)
    assert reads == [sub["id"]]
    assert {(r.outcome, r.processed) for r in rows(db).values()} == {("applied", True)}
    assert billing.entitlement(tenant.tenant_id).plan == "pro" and lease_of(db, tenant.tenant_id) is None


def test_an_event_stored_after_the_read_began_is_not_covered_by_it_but_by_the_next_read(
        billing, tenant, db, monkeypatch):
    """The ordering rule itself: a delivery that arrives while the holder's read is in flight is newer than
    what that read saw, so the holder keeps the lease and reads again (in the background) for it."""
    subscribe(billing, tenant, "starter")
    sub = subscription_of(billing, tenant)
    original = stripe_gateway.StripeGateway.retrieve_subscription
    seen: list[str] = []

    def read_while_another_arrives(self, subscription_id):
        answer = original(self, subscription_id)
        seen.append(subscription_id)
        if len(seen) == 1:  # after Stripe answered the first read, Stripe sends another event
            late = requests.post(f"{billing.url}/api/billing/webhook", data=json.dumps(sub_event("evt_co_late", sub)),
                                 headers={"Stripe-Signature": signature_header(
                                     json.dumps(sub_event("evt_co_late", sub)).encode())}, timeout=30)
            seen.append(late.json()["outcome"])
        return answer

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", read_while_another_arrives)
    first = post_event(billing.app.test_client(), sub_event("evt_co_first", sub))
    assert first.get_json()["outcome"] == "applied"
    assert background.wait_idle()
    assert seen == [sub["id"], "queued", sub["id"]]  # the late one got its own, later read
    assert {k: (r.outcome, r.processed) for k, r in rows(db).items()} == {
        "evt_co_first": ("applied", True), "evt_co_late": ("applied", True)}
    assert lease_of(db, tenant.tenant_id) is None


def stripe_down(monkeypatch) -> None:
    def down(self, *args, **kwargs):
        raise requests.ConnectionError("stripe is down")

    monkeypatch.setattr(stripe_gateway.StripeGateway, "_get_json", down)


def age(db, tenant_id: str, *event_ids: str, minutes: int = 10) -> None:
    """Make the tenant's lease and these events old: their reader is long gone."""
    long_ago = clock.now() - timedelta(minutes=minutes)
    db.session.execute(update(Entitlement).where(Entitlement.tenant_id == tenant_id).values(sync_lease_at=long_ago))
    db.session.execute(update(BillingEvent).where(BillingEvent.event_id.in_(event_ids)).values(received_at=long_ago))
    db.session.commit()


def test_a_read_that_fails_marks_the_events_queued_for_it_failed_and_the_next_read_applies_them(
        billing, tenant, db, reading, monkeypatch):
    sub = reading.sub
    lease = reading.lease
    for n in range(2):
        post_event(billing.app.test_client(), sub_event(f"evt_co_fail_{n}", sub))
    with monkeypatch.context() as patch:
        stripe_down(patch)
        with billing.app.app_context():
            events.drain_queued(tenant.tenant_id, lease)
    failed = rows(db)
    assert {(r.outcome, r.processed) for r in failed.values()} == {("failed", False)}  # counted by the alert
    assert all("stripe is down" in r.last_error for r in failed.values()) and lease_of(db, tenant.tenant_id) is None
    # Stripe never redelivers them (they were answered 200): the next read of the subscription covers them.
    assert post_event(billing.app.test_client(), sub_event("evt_co_fail_next", sub)).get_json()["outcome"] == "applied"
    assert {(r.outcome, r.processed) for r in rows(db).values()} == {("applied", True)}


def test_the_sweep_retries_queued_events_whose_read_failed_until_stripe_answers(
        billing, tenant, db, reading, monkeypatch):
    sub = reading.sub
    lease = reading.lease
    post_event(billing.app.test_client(), sub_event("evt_co_retry", sub))
    with monkeypatch.context() as patch:
        stripe_down(patch)
        with billing.app.app_context():
            events.drain_queued(tenant.tenant_id, lease)
            age(db, tenant.tenant_id, "evt_co_retry")
            assert events.sweep_queued() == 1  # still down: failed again, still waiting
    assert rows(db)["evt_co_retry"].outcome == "failed" and lease_of(db, tenant.tenant_id) is None
    with billing.app.app_context():
        assert events.sweep_queued() == 1
    assert rows(db)["evt_co_retry"].outcome == "applied"
    age(db, tenant.tenant_id, "evt_co_retry", minutes=60 * 24 * 4)
    with billing.app.app_context():
        assert events.sweep_queued() == 0  # applied: nothing left to sweep


def test_an_event_claimed_by_a_reader_whose_process_died_is_applied_by_the_sweep(
        billing, tenant, db, reading, monkeypatch):
    sub = reading.sub
    post_event(billing.app.test_client(), sub_event("evt_co_claimed", sub))
    with billing.app.app_context():
        taken = sync_lease.newest_queued(tenant.tenant_id, sub["id"])  # the reader claims it, reads... and dies
    assert taken is not None
    db.session.execute(update(BillingEvent).where(BillingEvent.event_id == "evt_co_claimed")
                       .values(processing_started_at=clock.now() - timedelta(minutes=10)))
    age(db, tenant.tenant_id, "evt_co_claimed")
    with billing.app.app_context():
        assert events.sweep_queued() == 1
    assert rows(db)["evt_co_claimed"].outcome == "applied" and lease_of(db, tenant.tenant_id) is None


def test_events_queued_behind_a_reader_that_died_are_applied_by_the_next_delivery(
        billing, tenant, db, reading, reads):
    sub = reading.sub
    post_event(billing.app.test_client(), sub_event("evt_co_orphan", sub))
    age(db, tenant.tenant_id)  # the lease's process died long ago
    reads.clear()
    assert post_event(billing.app.test_client(), sub_event("evt_co_next", sub)).get_json()["outcome"] == "applied"
    assert reads == [sub["id"]]  # one read for both
    assert {k: r.outcome for k, r in rows(db).items()} == {"evt_co_orphan": "applied", "evt_co_next": "applied"}
    assert lease_of(db, tenant.tenant_id) is None


def test_the_sweep_applies_events_left_queued_by_a_dead_reader_when_no_delivery_comes(
        billing, tenant, db, reading, reads):
    sub = reading.sub
    post_event(billing.app.test_client(), sub_event("evt_co_swept", sub))
    with billing.app.app_context():
        assert events.sweep_queued() == 0  # the holder may still be reading: left alone
    age(db, tenant.tenant_id, "evt_co_swept")
    with billing.app.app_context():
        assert events.sweep_queued() == 1
    assert rows(db)["evt_co_swept"].outcome == "applied" and lease_of(db, tenant.tenant_id) is None


def test_a_redelivery_of_a_queued_event_applies_it_itself(billing, tenant, db, reading, reads):
    sub = reading.sub
    lease = reading.lease
    event = sub_event("evt_co_again", sub)
    assert post_event(billing.app.test_client(), event).get_json()["outcome"] == "queued"
    reads.clear()
    assert post_event(billing.app.test_client(), event).get_json()["outcome"] == "applied"
    assert reads == [sub["id"]]
    with billing.app.app_context():
        events.drain_queued(tenant.tenant_id, lease)  # the holder finds nothing left for it
    assert reads == [sub["id"]] and rows(db)["evt_co_again"].attempts == 1


def test_concurrent_deliveries_for_one_tenant_all_end_applied_with_fewer_reads_and_the_lease_free(
        billing, tenant, db, reads):
    """Many workers at once (the live server's threads): every event ends applied (none left queued, none
    lost between a queueing delivery and a holder letting go), the entitlement is Stripe's, and the reads
    were shared."""
    subscribe(billing, tenant, "starter")
    sub = subscription_of(billing, tenant)
    billing.stripe.v1.subscriptions.update(sub["id"], {"items": [{"id": sub["items"]["data"][0]["id"],
                                                                  "price": billing.catalog["pro"]["price_id"]}]})
    billing.wait_for_webhooks()
    reads.clear()
    outcomes: list[str] = []
    lock = threading.Lock()

    def deliver(n: int) -> None:
        for i in range(8):
            body = json.dumps(sub_event(f"evt_co_burst_{n}_{i}", sub)).encode()  # the older (starter) payload
            resp = requests.post(f"{billing.url}/api/billing/webhook", data=body, timeout=30,
                                 headers={"Stripe-Signature": signature_header(body)})
            assert resp.status_code == 200, resp.text
            with lock:
                outcomes.append(resp.json()["outcome"])

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert background.wait_idle()
    done = rows(db)
    assert len(done) == 64 and all(r.processed and r.outcome in ("applied", "stale") for r in done.values())
    assert len(reads) < 64 and "queued" in outcomes
    assert billing.entitlement(tenant.tenant_id).plan == "pro"  # Stripe's state, not the payloads'
    assert lease_of(db, tenant.tenant_id) is None


def test_the_scheduler_sweeps_queued_events_every_minute(billing, tenant, db, reading):
    from webapp import scheduler

    app = billing.app
    app.testing, app.config["SCHEDULER_ENABLED"] = False, True
    sched = scheduler.start_scheduler(app)
    try:
        job = sched.get_job("queued-sweep")
        assert job.trigger.interval == timedelta(minutes=1)
    finally:
        scheduler.stop_scheduler(sched)
        app.testing = True
    sub = reading.sub
    post_event(app.test_client(), sub_event("evt_co_sched", sub))
    age(db, tenant.tenant_id, "evt_co_sched")
    assert scheduler.run_queued_sweep(app) == 1
    assert rows(db)["evt_co_sched"].outcome == "applied"


def test_the_lease_statements_find_waiting_events_through_their_partial_index_on_sqlite(billing, tenant, db, reading):
    """Every statement about waiting events reads ix_billing_events_waiting, never the whole event table
    (SQLite uses a partial index only when the query repeats its predicate)."""
    from sqlalchemy import event as sa_event

    if db.engine.dialect.name != "sqlite":
        pytest.skip("the plan check reads SQLite's EXPLAIN QUERY PLAN")
    sub = reading.sub
    lease = reading.lease
    post_event(billing.app.test_client(), sub_event("evt_co_plan", sub))
    statements: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, params, context, executemany):
        if "billing_events" in statement and "subscription_id IS NOT NULL" in statement:
            statements.append((statement, params))

    sa_event.listen(db.engine, "before_cursor_execute", grab)
    try:
        with billing.app.app_context():
            events.drain_queued(tenant.tenant_id, lease)
            events.sweep_queued()
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", grab)
    assert len(statements) >= 4, statements
    with db.engine.connect() as conn:
        plans = [" / ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + st, params))
                 for st, params in statements]
    assert all("ix_billing_events_waiting" in p or p.startswith("SEARCH billing_events USING INTEGER PRIMARY KEY")
               for p in plans), plans


def test_the_newest_covered_event_counts_as_the_newest_applied(billing, tenant, db, reading):
    """A read that covers a queued event newer than its own moves last_event_created to it, so a later
    payload-only application (Stripe no longer has the subscription) cannot bring back an older state."""
    sub = reading.sub
    lease = reading.lease
    newer = {**sub_event("evt_co_newer", sub), "created": int(time.time()) + 120}
    post_event(billing.app.test_client(), newer)
    post_event(billing.app.test_client(), sub_event("evt_co_older", sub))
    with billing.app.app_context():
        events.drain_queued(tenant.tenant_id, lease)  # reads for the newest (by created), covers the other
    assert billing.entitlement(tenant.tenant_id).last_event_created.timestamp() == newer["created"]


def test_while_events_keep_coming_the_subscription_is_read_again_once_per_interval_covering_all_of_them(
        billing, tenant, db, monkeypatch):
    """A burst: the first delivery reads at once; what arrives during its read and during the interval
    after it is applied by one more read, which starts no sooner than SUBSCRIPTION_READ_INTERVAL_SECONDS
    after the first began."""
    monkeypatch.setitem(billing.app.config, "SUBSCRIPTION_READ_INTERVAL_SECONDS", 1.0)
    subscribe(billing, tenant, "starter")
    sub = subscription_of(billing, tenant)
    original = stripe_gateway.StripeGateway.retrieve_subscription
    started: list[float] = []

    def timed(self, subscription_id):
        started.append(time.monotonic())
        answer = original(self, subscription_id)
        if len(started) == 1:  # Stripe sends more while the first read is in flight
            for n in range(3):
                body = json.dumps(sub_event(f"evt_co_during_{n}", sub))
                late = requests.post(f"{billing.url}/api/billing/webhook", data=body,
                                     headers={"Stripe-Signature": signature_header(body.encode())}, timeout=30)
                assert late.json()["outcome"] == "queued"
        return answer

    monkeypatch.setattr(stripe_gateway.StripeGateway, "retrieve_subscription", timed)
    assert post_event(billing.app.test_client(), sub_event("evt_co_first", sub)).get_json()["outcome"] == "applied"
    for n in range(2):  # ... and more while the next read waits for its time
        answer = post_event(billing.app.test_client(), sub_event(f"evt_co_after_{n}", sub)).get_json()
        assert answer["outcome"] == "queued"
    assert background.wait_idle()
    assert len(started) == 2 and started[1] - started[0] >= 1.0
    assert {k: (r.outcome, r.processed) for k, r in rows(db).items()} == {
        "evt_co_first": ("applied", True), **{f"evt_co_during_{n}": ("applied", True) for n in range(3)},
        **{f"evt_co_after_{n}": ("applied", True) for n in range(2)}}
    assert lease_of(db, tenant.tenant_id) is None


def test_the_read_interval_never_comes_near_the_lease_expiry(billing, monkeypatch):
    """A misconfigured interval (an hour) is cut to a tenth of the request timeout, so a lease waiting for
    its next round is never taken for a dead reader's."""
    monkeypatch.setitem(billing.app.config, "SUBSCRIPTION_READ_INTERVAL_SECONDS", 3600.0)
    with billing.app.app_context():
        due = events._read_due_in(time.monotonic())
        assert 0 < due <= billing.app.config["REQUEST_TIMEOUT_SECONDS"] / 10
        assert events._read_due_in(None) == 0.0  # the first read of a burst is never delayed
