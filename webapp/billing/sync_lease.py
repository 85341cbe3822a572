"""One Stripe read at a time per tenant for its subscription events; deliveries meanwhile wait for it.

A subscription event is applied from a fresh read of the subscription, never from its payload alone
(Stripe delivers out of order). In a burst — a plan change, a renewal, a bulk update — Stripe sends
several events for one subscription within moments, and a read per event costs a round trip each.
So a delivery takes the tenant's lease (`entitlements.sync_lease_at`) first:

- **With the lease** it reads and applies as before and answers after; its read also covers the
  tenant's queued events of that subscription stored before the read began, since Stripe's state at
  the read includes everything Stripe had sent by then. "Before" is decided by the events' ids (a
  row's id is drawn when it is inserted, after it was received), not by comparing clocks.
- **Without it** (another delivery is reading) the event is stored as `queued` and answered 200. The
  holder, when done, finds it queued, keeps the lease and reads again (in the background,
  `webapp/billing/background.py`), until none is left; then it frees the lease.

Every step takes the entitlement's row lock first, so a delivery that queues and a holder that frees
the lease are ordered: either the holder sees the queued event, or the delivery sees a free lease and
takes it. A lease whose process died expires after the claim timeout (the request timeout); the next
delivery, or the scheduler's sweep of queued events, takes it over, and so does an event a dead
reader had claimed. When a read for queued events fails they become failed events (visible, counted
by the alerts), stay waiting, and the sweep retries them every minute for three days, as Stripe
would have; any later read of the subscription covers them too. No lock is held across a Stripe
call: each step is its own short transaction.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, case, func, or_, select, update

from webapp import clock
from webapp.extensions import db
from webapp.models import BillingEvent, Entitlement

# The events whose whole handling is a read of their subscription: the ones a later read covers.
COALESCED = frozenset({"customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted"})
RETRY_FOR = timedelta(days=3)  # how long the sweep retries queued events whose read failed (Stripe's horizon)

ENT, EVT = Entitlement.__table__.c, BillingEvent.__table__.c
_WHEN = Entitlement.sync_lease_at.type

# Lock the row and take the lease if it is free or expired; RETURNING says who holds it now. updated_at is
# left alone: it says when the entitlement last changed, and a lease is not a change.
_TAKE = (update(Entitlement.__table__).where(ENT.tenant_id == bindparam("t"))
         .values(sync_lease_at=case((or_(ENT.sync_lease_at.is_(None),
                                         ENT.sync_lease_at < bindparam("expired", type_=_WHEN)),
                                     bindparam("now", type_=_WHEN)), else_=ENT.sync_lease_at),
                 updated_at=ENT.updated_at)
         .returning(ENT.sync_lease_at))
_RENEW = (update(Entitlement.__table__)
          .where(ENT.tenant_id == bindparam("t"), ENT.sync_lease_at == bindparam("held", type_=_WHEN))
          .values(sync_lease_at=bindparam("now", type_=_WHEN), updated_at=ENT.updated_at))
# Events stored for a read of their subscription and not applied yet: queued, or failed and to be retried.
# The partial index ix_billing_events_waiting holds exactly these rows, and every query repeats its predicate.
_OPEN = EVT.subscription_id.is_not(None) & EVT.processed.is_(False)
# ... and not being applied right now by a redelivery, a replay or a reader (a claim older than the
# request timeout belongs to a process that died).
_UNCLAIMED = or_(EVT.processing_started_at.is_(None), EVT.processing_started_at < bindparam("stale", type_=_WHEN))
_QUEUED = _OPEN & (EVT.outcome == "queued") & _UNCLAIMED
_ANY_QUEUED = select(EVT.id).where(EVT.tenant_id == bindparam("t"), _QUEUED).limit(1).exists()
# Run with the row already locked by this transaction (_RENEW), so its snapshot shows every queued event.
_KEEP_IF_QUEUED = (update(Entitlement.__table__).where(ENT.tenant_id == bindparam("t"))
                   .values(sync_lease_at=case((_ANY_QUEUED, ENT.sync_lease_at), else_=None),
                           updated_at=ENT.updated_at)
                   .returning(ENT.sync_lease_at))
# The same decision for a reader that locked the row earlier in this transaction (its read's own lock):
# renewing it first would only lock it again. Still ours only if the lease is the one it took.
_SETTLE_LOCKED = (update(Entitlement.__table__)
                  .where(ENT.tenant_id == bindparam("t"), ENT.sync_lease_at == bindparam("held", type_=_WHEN))
                  .values(sync_lease_at=case((_ANY_QUEUED, bindparam("now", type_=_WHEN)), else_=None),
                          updated_at=ENT.updated_at)
                  .returning(ENT.sync_lease_at))
_COVER = (update(BillingEvent.__table__)
          .where(EVT.tenant_id == bindparam("t"), _OPEN, _UNCLAIMED, EVT.subscription_id == bindparam("s"),
                 EVT.id <= bindparam("upto"))
          .values(processed=True, processed_at=bindparam("now", type_=_WHEN), outcome=bindparam("o"),
                  last_error=None, processing_started_at=None)
          .returning(EVT.event_id, EVT.payload_json))
@dataclass(frozen=True)
class Held:
    """A lease this delivery holds, for its event's subscription; its read covers waiting events up to `upto`
    (the largest event id stored when the read was about to begin)."""

    tenant_id: str
    subscription_id: str
    lease_at: datetime
    upto: int


def claim_timeout() -> timedelta:
    """How old a claim is when it belongs to a worker that died mid-way: the request timeout (gunicorn's).

    No request outlives it, and the Stripe calls a handler makes fit inside it (STRIPE_TIMEOUT_SECONDS ×
    (STRIPE_MAX_NETWORK_RETRIES + 1) is kept below it), so a live handler never loses its claim to a
    redelivery; and if one ever did, its final write checks the claim is still its own.
    """
    return timedelta(seconds=current_app.config["REQUEST_TIMEOUT_SECONDS"])


def lease_timeout_cutoff(now: datetime) -> datetime:
    """Leases (and claims) taken before this belong to a process that died or stalled past the request timeout."""
    return now - claim_timeout()


def take_in_transaction(tenant_id: str, now: datetime) -> str:
    """In the caller's transaction: lock the tenant's entitlement and take its lease if free or expired.

    "taken" (ours, as `now`), "held" (another delivery is reading), or "absent" (no such entitlement).
    """
    held = db.session.execute(_TAKE, {"t": tenant_id, "now": now, "expired": lease_timeout_cutoff(now)}).all()
    if not held:
        return "absent"
    return "taken" if held[0][0] == now else "held"


def take(tenant_id: str) -> datetime | None:
    """Take the tenant's lease if it is free or expired (committed); its timestamp, or None if not."""
    now = clock.now()
    taken = take_in_transaction(tenant_id, now) == "taken"
    db.session.commit()
    return now if taken else None


def settle(tenant_id: str, lease_at: datetime, locked: bool = False) -> datetime | None:
    """In the caller's transaction, after a read: free the lease if nothing is queued, else keep it (renewed).

    Returns the renewed lease when queued events wait for another read; None when the lease was freed,
    or is no longer ours (it expired and another delivery took it: that one covers them). `locked`: this
    transaction already holds the entitlement's row lock (the read's apply took it), so one statement
    decides.
    """
    now = clock.now()
    if locked:  # the lock came before this statement, so its snapshot shows every delivery that queued
        rows = db.session.execute(_SETTLE_LOCKED, {"t": tenant_id, "held": lease_at, "now": now,
                                                   "stale": lease_timeout_cutoff(now)}).all()
        return now if rows and rows[0][0] is not None else None
    if db.session.execute(_RENEW, {"t": tenant_id, "held": lease_at, "now": now}).rowcount != 1:
        return None
    # A new statement after the row lock: every delivery that queued before it has committed and shows;
    # any later one waits for this transaction and then finds the lease free (takes it) or held (queues).
    kept = db.session.execute(_KEEP_IF_QUEUED, {"t": tenant_id, "stale": lease_timeout_cutoff(now)}).scalar()
    return now if kept is not None else None


def renew_or_free(tenant_id: str, lease_at: datetime) -> datetime | None:
    """`settle` in a transaction of its own (after a failed read, or between rounds)."""
    kept = settle(tenant_id, lease_at)
    db.session.commit()
    return kept


def cover(held: Held, outcome: str) -> list[dict[str, Any]]:
    """After a fresh read of `held`'s subscription, in the caller's transaction: mark the tenant's waiting
    events of it stored before the read began done with the read's outcome, and let the newest of them
    count as the newest event applied. Returns their payloads."""
    now = clock.now()
    rows = db.session.execute(_COVER, {"t": held.tenant_id, "s": held.subscription_id, "upto": held.upto,
                                       "now": now, "o": outcome, "stale": lease_timeout_cutoff(now)}).all()
    covered = [json.loads(payload) for _, payload in rows]
    created = [e["created"] for e in covered if isinstance(e.get("created"), int)]
    if created:  # the entitlement the read just locked and wrote (from the identity map)
        ent = db.session.get(Entitlement, held.tenant_id)
        newest = datetime.fromtimestamp(max(created), UTC)
        if ent is not None and (ent.last_event_created is None or ent.last_event_created < newest):
            ent.last_event_created = newest
    return covered


def queued_subscriptions(tenant_id: str) -> list[str]:
    """The subscriptions the tenant's queued events wait for (usually one)."""
    stale = lease_timeout_cutoff(clock.now())
    return list(db.session.scalars(select(EVT.subscription_id).where(EVT.tenant_id == tenant_id, _QUEUED)
                                   .group_by(EVT.subscription_id).order_by(func.min(EVT.id)), {"stale": stale}))


def newest_queued(tenant_id: str, subscription_id: str) -> tuple[int, datetime, dict[str, Any], int] | None:
    """The newest queued event of the subscription, claimed for this reader: its id, claim and payload, and
    the largest event id stored so far (what the read about to begin covers)."""
    now = clock.now()
    params = {"stale": lease_timeout_cutoff(now)}
    row = db.session.execute(select(EVT.id, EVT.payload_json, select(func.max(EVT.id)).scalar_subquery())
                             .where(EVT.tenant_id == tenant_id, _QUEUED, EVT.subscription_id == subscription_id)
                             .order_by(EVT.stripe_created.desc(), EVT.id.desc()).limit(1), params).first()
    if row is None:
        db.session.commit()
        return None
    taken = db.session.execute(update(BillingEvent.__table__).where(EVT.id == row[0], _QUEUED)
                               .values(processing_started_at=now, attempts=EVT.attempts + 1), params).rowcount
    db.session.commit()
    return (row[0], now, json.loads(row[1]), int(row[2])) if taken == 1 else None


def fail_queued(tenant_id: str, subscription_id: str, error: str) -> int:
    """A read for queued events failed: they become failed events (counted by the alerts) that still wait,
    for the sweep's retry or the next read of the subscription."""
    count = db.session.execute(update(BillingEvent.__table__)
                               .where(EVT.tenant_id == tenant_id, _QUEUED, EVT.subscription_id == subscription_id)
                               .values(outcome="failed", last_error=error, processing_started_at=None),
                               {"stale": lease_timeout_cutoff(clock.now())}).rowcount
    db.session.commit()
    return int(count or 0)


def requeue_failed(tenant_id: str, now: datetime) -> int:
    """Holding the lease (the sweep): put the tenant's failed waiting events of the last RETRY_FOR back in
    the queue, to be read for again."""
    count = db.session.execute(update(BillingEvent.__table__)
                               .where(EVT.tenant_id == tenant_id, _OPEN, _UNCLAIMED, EVT.outcome == "failed",
                                      EVT.received_at > now - RETRY_FOR)
                               .values(outcome="queued"), {"stale": lease_timeout_cutoff(now)}).rowcount
    db.session.commit()
    return int(count or 0)


def stuck_tenants(now: datetime, after: str = "", batch: int = 100) -> list[str]:
    """The next `batch` tenants (by id, after `after`) with waiting events their reader left: queued longer
    than a lease lasts, claimed by a process that died, or failed within RETRY_FOR."""
    stale = lease_timeout_cutoff(now)
    stuck = _OPEN & _UNCLAIMED & (EVT.received_at < stale) & or_(
        EVT.outcome == "queued", EVT.received_at > now - RETRY_FOR)
    return list(db.session.scalars(select(EVT.tenant_id).where(stuck, EVT.tenant_id > after)
                                   .group_by(EVT.tenant_id).order_by(EVT.tenant_id).limit(batch), {"stale": stale}))
