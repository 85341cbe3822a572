"""Stripe events: stored before they are acted on, applied once, replayable."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp import clock
from webapp.billing import notices, stripe_gateway
from webapp.billing.subscriptions import SyncResult, apply_subscription, find_entitlement, ts
from webapp.errors import Conflict
from webapp.extensions import db
from webapp.models import BillingEvent

log = logging.getLogger(__name__)

# A claim older than this is taken to belong to a worker that died mid-way.
CLAIM_TIMEOUT = timedelta(seconds=60)
# How long a second delivery of an event waits for the first to finish before asking Stripe to retry.
CONCURRENT_WAIT_SECONDS = 10.0


@dataclass
class Outcome:
    """What processing an event did."""

    event_id: str
    type: str
    outcome: str  # applied | ignored | stale | duplicate
    tenant_id: str | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def _subscription_id(obj: dict[str, Any]) -> str | None:
    """The subscription an invoice belongs to, in today's layout or the older top-level field."""
    details = ((obj.get("parent") or {}).get("subscription_details") or {})
    sub = details.get("subscription") or obj.get("subscription")
    return sub.get("id") if isinstance(sub, dict) else sub


def _sync(sub_id: str | None, payload_sub: dict[str, Any] | None, event: dict[str, Any], actor: str) -> SyncResult:
    """Apply the subscription as Stripe has it now; the payload copy only when Stripe has none."""
    created = ts(event["created"])
    fresh = stripe_gateway.gateway().retrieve_subscription(sub_id) if sub_id else None
    if fresh is not None:
        return apply_subscription(fresh, actor=actor, event_id=event["id"], event_created=created, fresh=True)
    if payload_sub is not None:
        return apply_subscription(payload_sub, actor=actor, event_id=event["id"], event_created=created, fresh=False)
    return SyncResult(None, {})


def on_checkout_completed(event: dict[str, Any], actor: str) -> SyncResult:
    """Link the customer to the tenant (client_reference_id), then apply its subscription."""
    session = event["data"]["object"]
    customer = session.get("customer")
    customer = customer.get("id") if isinstance(customer, dict) else customer
    ent = find_entitlement(session.get("client_reference_id") or (session.get("metadata") or {}).get("tenant_id"),
                           customer)
    if ent is not None and customer and ent.stripe_customer_id is None:
        ent.stripe_customer_id = customer
    sub = session.get("subscription")
    result = _sync(sub.get("id") if isinstance(sub, dict) else sub, None, event, actor)
    return SyncResult(result.tenant_id or (ent.tenant_id if ent else None), result.changes, result.stale)


def on_subscription_event(event: dict[str, Any], actor: str) -> SyncResult:
    """created / updated / deleted: the subscription's own state decides."""
    sub = event["data"]["object"]
    return _sync(sub.get("id"), sub, event, actor)


def on_invoice_paid(event: dict[str, Any], actor: str) -> SyncResult:
    """A paid invoice: the subscription is active again (or still)."""
    return _sync(_subscription_id(event["data"]["object"]), None, event, actor)


def on_payment_failed(event: dict[str, Any], actor: str) -> SyncResult:
    """A failed charge: the subscription's status (past_due) drops the tenant to the free tier."""
    invoice = event["data"]["object"]
    result = _sync(_subscription_id(invoice), None, event, actor)
    if result.tenant_id:
        notices.add(result.tenant_id, "payment_failed", event["id"],
                    "Your last payment failed. Update your card in the billing portal to keep your plan.")
    return result


def on_trial_will_end(event: dict[str, Any], actor: str) -> SyncResult:
    """Three days before a trial ends: a notice on the billing page and a log line."""
    sub = event["data"]["object"]
    result = _sync(sub.get("id"), sub, event, actor)
    if result.tenant_id:
        ends = ts(sub.get("trial_end"))
        when = f" on {ends:%Y-%m-%d}" if ends else " soon"
        notices.add(result.tenant_id, "trial_will_end", event["id"],
                    f"Your trial ends{when}. Your card will be charged then unless you cancel.")
        log.info("webhook.trial_will_end", extra={"tenant_id": result.tenant_id, "event_id": event["id"],
                                                   "type": event["type"]})
    return result


HANDLERS: dict[str, Callable[[dict[str, Any], str], SyncResult]] = {
    "checkout.session.completed": on_checkout_completed,
    "customer.subscription.created": on_subscription_event,
    "customer.subscription.updated": on_subscription_event,
    "customer.subscription.deleted": on_subscription_event,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_payment_failed,
    "customer.subscription.trial_will_end": on_trial_will_end,
}


def store(event: dict[str, Any]) -> tuple[BillingEvent, bool]:
    """Insert the event (or count another delivery of it) and commit, before anything acts on it.

    Returns the row and whether this delivery holds the claim to process it: a first delivery is
    inserted already claimed, so the common case costs one commit before processing.
    """
    now = clock.now()
    row = db.session.scalar(select(BillingEvent).where(BillingEvent.event_id == event["id"]))
    if row is None:
        row = BillingEvent(event_id=event["id"], type=event["type"], stripe_created=ts(event["created"]),
                           created_at=now, received_at=now, payload_json=json.dumps(event),
                           processing_started_at=now, attempts=1)
        db.session.add(row)
        try:
            db.session.commit()
            return row, True
        except IntegrityError:  # the same event arriving at the same moment on another worker
            db.session.rollback()
            row = db.session.scalars(select(BillingEvent).where(BillingEvent.event_id == event["id"])).one()
    db.session.execute(update(BillingEvent).where(BillingEvent.id == row.id)
                       .values(deliveries=BillingEvent.deliveries + 1, received_at=now))
    db.session.commit()
    db.session.refresh(row)
    return row, False


def _claim(row_id: int) -> bool:
    """Take the right to process an unprocessed event, atomically; False if processed or claimed."""
    now = clock.now()
    result = db.session.execute(
        update(BillingEvent)
        .where(BillingEvent.id == row_id, BillingEvent.processed.is_(False),
               or_(BillingEvent.processing_started_at.is_(None),
                   BillingEvent.processing_started_at < now - CLAIM_TIMEOUT))
        .values(processing_started_at=now, attempts=BillingEvent.attempts + 1))
    db.session.commit()
    return result.rowcount == 1


def _wait_until_processed(row: BillingEvent) -> bool:
    deadline = time.monotonic() + CONCURRENT_WAIT_SECONDS
    while time.monotonic() < deadline:
        db.session.refresh(row)
        if row.processed or row.processing_started_at is None:
            return row.processed
        time.sleep(0.05)
    return False


def record_and_process(event: dict[str, Any], actor: str = "webhook") -> Outcome:
    """Store a verified event, then apply it exactly once; a failure is kept on the row and re-raised."""
    row, claimed = store(event)
    log.info("webhook.received", extra={"event_id": event["id"], "type": event["type"], "deliveries": row.deliveries})
    if row.processed:
        log.info("webhook.duplicate", extra={"event_id": event["id"], "type": event["type"]})
        return Outcome(event["id"], event["type"], "duplicate", row.tenant_id)
    if not claimed and not _claim(row.id):
        if _wait_until_processed(row):
            return Outcome(event["id"], event["type"], "duplicate", row.tenant_id)
        raise Conflict("EVENT_IN_PROGRESS", "Another delivery of this event is being processed; retry later.",
                       event_id=event["id"])
    return process(row, event, actor)


def process(row: BillingEvent, event: dict[str, Any], actor: str, commit: bool = True) -> Outcome:
    """Run the event's handler and mark the row; on failure record the error and re-raise."""
    handler = HANDLERS.get(event["type"])
    try:
        result = handler(event, actor) if handler else SyncResult(None, {})
    except Exception as exc:
        db.session.rollback()
        _mark_failed(row.id, exc)
        log.exception("webhook.failed", extra={"event_id": event["id"], "type": event["type"]})
        raise
    outcome = "ignored" if handler is None else ("stale" if result.stale else "applied")
    row.processed, row.processed_at, row.processing_started_at = True, clock.now(), None
    row.outcome, row.last_error = outcome, None
    row.tenant_id = result.tenant_id or row.tenant_id
    if commit:
        db.session.commit()
    log.info("webhook.processed", extra={"event_id": event["id"], "type": event["type"], "outcome": outcome,
                                         "tenant_id": row.tenant_id, "changed": sorted(result.changes)})
    return Outcome(event["id"], event["type"], outcome, row.tenant_id, result.changes)


def _mark_failed(row_id: int, exc: Exception) -> None:
    db.session.execute(update(BillingEvent).where(BillingEvent.id == row_id).values(
        processing_started_at=None, outcome="failed", last_error=f"{type(exc).__name__}: {exc}"[:2000]))
    db.session.commit()
