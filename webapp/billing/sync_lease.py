"""One Stripe read at a time per tenant for its subscription events; deliveries meanwhile wait for it.

A subscription event is applied from a fresh read of the subscription, never from its payload alone
(Stripe delivers out of order). In a burst — a plan change, a renewal, a bulk update — Stripe sends
several events for one subscription within moments, and a read per event costs a round trip each.
So a delivery takes the tenant's lease (`entitlements.sync_lease_at`) first:

- **With the lease** it reads and applies as before and answers after; its read also covers the
  tenant's queued events of that subscription stored before the read began, since Stripe's state at
  the read includes everything Stripe had sent by then.
- **Without it** (another delivery is reading) the event is stored as `queued` and answered 200. The
  holder, when done, finds it queued, keeps the lease and reads again (in the background,
  `webapp/billing/background.py`), until none is left; then it frees the lease.

Every step takes the entitlement's row lock first, so a delivery that queues and a holder that frees
the lease are ordered: either the holder sees the queued event, or the delivery sees a free lease and
takes it. A lease whose process died expires after the claim timeout (the request timeout); the next
delivery, or the scheduler's sweep of queued events, takes it over. No lock is held across a Stripe
call: each step is its own short transaction.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, case, func, or_, select, update

from webapp import clock
from webapp.extensions import db
from webapp.models import BillingEvent, Entitlement

# The events whose whole handling is a read of their subscription: the ones a later read covers.
COALESCED = frozenset({"customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted"})

_E, _B = Entitlement.__table__.c, BillingEvent.__table__.c
_AT = Entitlement.sync_lease_at.type

# Lock the row and take the lease if it is free or expired; RETURNING says who holds it now.
_TAKE = (update(Entitlement.__table__).where(_E.tenant_id == bindparam("t"))
         .values(sync_lease_at=case((or_(_E.sync_lease_at.is_(None), _E.sync_lease_at < bindparam("expired", type_=_AT)),
                                     bindparam("now", type_=_AT)), else_=_E.sync_lease_at))
         .returning(_E.sync_lease_at))
_RENEW = (update(Entitlement.__table__).where(_E.tenant_id == bindparam("t"), _E.sync_lease_at == bindparam("held", type_=_AT))
          .values(sync_lease_at=bindparam("now", type_=_AT)))
# Queued and not taken by a redelivery or a replay (those apply the event themselves).
_WAITING = (_B.outcome == "queued") & _B.processing_started_at.is_(None)
# Run with the row already locked by this transaction (_RENEW), so its snapshot shows every queued event.
_KEEP_IF_QUEUED = (update(Entitlement.__table__).where(_E.tenant_id == bindparam("t"))
                   .values(sync_lease_at=case((select(_B.id).where(_B.tenant_id == bindparam("t"), _WAITING)
                                               .limit(1).exists(), _E.sync_lease_at), else_=None))
                   .returning(_E.sync_lease_at))
_COVER = (update(BillingEvent.__table__)
          .where(_B.tenant_id == bindparam("t"), _WAITING, _B.subscription_id == bindparam("s"),
                 _B.received_at <= bindparam("read_at", type_=_AT))
          .values(processed=True, processed_at=bindparam("now", type_=_AT), outcome=bindparam("o"), last_error=None)
          .returning(_B.event_id, _B.payload_json))


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


def settle(tenant_id: str, lease_at: datetime) -> datetime | None:
    """In the caller's transaction, after a read: free the lease if nothing is queued, else keep it (renewed).

    Returns the renewed lease when queued events wait for another read; None when the lease was freed,
    or is no longer ours (it expired and another delivery took it: that one covers them).
    """
    now = clock.now()
    if db.session.execute(_RENEW, {"t": tenant_id, "held": lease_at, "now": now}).rowcount != 1:
        return None
    # A new statement after the row lock: every delivery that queued before it has committed and shows;
    # any later one waits for this transaction and then finds the lease free (takes it) or held (queues).
    kept = db.session.execute(_KEEP_IF_QUEUED, {"t": tenant_id}).scalar()
    return now if kept is not None else None


def renew_or_free(tenant_id: str, lease_at: datetime) -> datetime | None:
    """`settle` in a transaction of its own (after a failed read, or between rounds)."""
    kept = settle(tenant_id, lease_at)
    db.session.commit()
    return kept


def cover(tenant_id: str, subscription_id: str, read_at: datetime, outcome: str) -> list[dict[str, Any]]:
    """Mark the tenant's queued events of this subscription, stored before a read began, done with the
    read's outcome (in the caller's transaction); returns their payloads."""
    rows = db.session.execute(_COVER, {"t": tenant_id, "s": subscription_id, "read_at": read_at,
                                       "now": clock.now(), "o": outcome}).all()
    return [json.loads(payload) for _, payload in rows]


def queued_subscriptions(tenant_id: str) -> list[str]:
    """The subscriptions the tenant's queued events wait for (usually one)."""
    return list(db.session.scalars(select(_B.subscription_id).where(_B.tenant_id == tenant_id, _WAITING)
                                   .group_by(_B.subscription_id).order_by(func.min(_B.received_at))))


def newest_queued(tenant_id: str, subscription_id: str) -> tuple[int, datetime, dict[str, Any]] | None:
    """The newest queued event of the subscription (its id, claim and payload), claimed for this holder."""
    row = db.session.execute(select(_B.id, _B.payload_json).where(_B.tenant_id == tenant_id, _WAITING,
                                                                  _B.subscription_id == subscription_id)
                             .order_by(_B.stripe_created.desc(), _B.id.desc()).limit(1)).first()
    if row is None:
        return None
    now = clock.now()
    taken = db.session.execute(update(BillingEvent.__table__).where(_B.id == row.id, _WAITING)
                               .values(processing_started_at=now, attempts=_B.attempts + 1)).rowcount
    db.session.commit()
    return (row.id, now, json.loads(row.payload_json)) if taken == 1 else None


def fail_queued(tenant_id: str, subscription_id: str, error: str) -> int:
    """A read for queued events failed: they become failed events (replayable, counted by the alerts)."""
    count = db.session.execute(update(BillingEvent.__table__)
                               .where(_B.tenant_id == tenant_id, _WAITING, _B.subscription_id == subscription_id)
                               .values(outcome="failed", last_error=error)).rowcount
    db.session.commit()
    return int(count or 0)


def stale_queued_tenants(older_than: datetime, limit: int = 100) -> list[str]:
    """Tenants with events queued since before `older_than` (their lease holder is gone or stuck)."""
    return list(db.session.scalars(select(_B.tenant_id).where(_WAITING, _B.received_at < older_than)
                                   .group_by(_B.tenant_id).limit(limit)))
