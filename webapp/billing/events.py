"""Stripe events: stored before they are acted on, applied once, replayable."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NoReturn

from flask import current_app
from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import clock
from webapp.billing import background, copies, emails, notices, notify, overrides, sync_lease
from webapp.billing.event_failures import error_text, known_failure
from webapp.billing.sync_lease import claim_timeout
from webapp.billing.subscriptions import SyncResult, find_entitlement, sync_from_stripe, ts
from webapp.errors import Conflict
from webapp.extensions import db, execute_core
from webapp.logs import log_context
from webapp.models import BillingEvent

log = logging.getLogger(__name__)



@dataclass
class Outcome:
    """What processing an event did."""

    event_id: str
    type: str
    outcome: str  # applied | ignored | stale | duplicate | queued
    tenant_id: str | None = None
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    covered: list[str] = field(default_factory=list)  # queued events its Stripe read applied too
    lease: datetime | None = None  # the tenant's lease, kept because events are still queued for it


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _subscription_id(obj: dict[str, Any]) -> str | None:
    """The subscription an invoice belongs to."""
    return copies.subscription_of(obj)


def _hints(obj: dict[str, Any]) -> dict[str, str | None]:
    """Who an event's object belongs to, as far as the payload says (to lock before reading Stripe)."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    parent = obj.get("parent") if isinstance(obj.get("parent"), dict) else {}
    details = parent.get("subscription_details") if isinstance(parent.get("subscription_details"), dict) else {}
    sub_meta = details.get("metadata") if isinstance(details.get("metadata"), dict) else {}
    tenant = obj.get("client_reference_id") or metadata.get("tenant_id") or sub_meta.get("tenant_id")
    return {"tenant_id": tenant if isinstance(tenant, str) else None, "customer_id": _id(obj.get("customer"))}


def _sync(sub_id: str | None, obj: dict[str, Any], event: dict[str, Any], actor: str,
          payload_is_subscription: bool = False, link_customer: bool = False) -> SyncResult:
    return sync_from_stripe(sub_id, actor=actor, hints=_hints(obj),
                            payload_sub=obj if payload_is_subscription else None,
                            event_id=event["id"], event_created=ts(event["created"]), link_customer=link_customer)


def on_checkout_completed(event: dict[str, Any], actor: str) -> SyncResult:
    """Link the customer to the tenant (client_reference_id), then apply its subscription."""
    session = event["data"]["object"]
    return _sync(_id(session.get("subscription")), session, event, actor, link_customer=True)


def on_subscription_event(event: dict[str, Any], actor: str) -> SyncResult:
    """created / updated / deleted: the subscription's own state decides."""
    sub = event["data"]["object"]
    return _sync(_id(sub), sub, event, actor, payload_is_subscription=True)


def _copy_invoice(tenant_id: str | None, event: dict[str, Any]) -> None:
    if tenant_id:
        copies.record_invoice(tenant_id, event["data"]["object"], ts(event["created"]))


def on_invoice_changed(event: dict[str, Any], actor: str) -> SyncResult:
    """An invoice was created, finalized, voided...: keep the tenant's copy (no Stripe call)."""
    invoice = event["data"]["object"]
    hints = _hints(invoice)
    ent = find_entitlement(hints["tenant_id"], hints["customer_id"], _subscription_id(invoice))
    _copy_invoice(ent.tenant_id if ent else None, event)
    return SyncResult(ent.tenant_id if ent else None, {})


def on_invoice_paid(event: dict[str, Any], actor: str) -> SyncResult:
    """A paid invoice: the subscription is active again (or still)."""
    invoice = event["data"]["object"]
    result = _sync(_subscription_id(invoice), invoice, event, actor)
    _copy_invoice(result.tenant_id, event)
    overrides.end_on_paid_invoice(result.tenant_id, invoice, event["id"], ts(event["created"]))
    return result


def on_payment_failed(event: dict[str, Any], actor: str) -> SyncResult:
    """A failed charge: the subscription's status (past_due) drops the tenant to the free tier."""
    invoice = event["data"]["object"]
    result = _sync(_subscription_id(invoice), invoice, event, actor)
    _copy_invoice(result.tenant_id, event)
    if result.tenant_id:
        notices.add(result.tenant_id, "payment_failed", event["id"],
                    "Your last payment failed. Update your card in the billing portal to keep your plan.")
    return result


def on_trial_will_end(event: dict[str, Any], actor: str) -> SyncResult:
    """Three days before a trial ends: a notice on the billing page and a log line."""
    sub = event["data"]["object"]
    result = _sync(_id(sub), sub, event, actor, payload_is_subscription=True)
    if result.tenant_id:
        ends = ts(sub.get("trial_end")) if isinstance(sub.get("trial_end"), int) else None
        when = f" on {ends:%Y-%m-%d}" if ends else " soon"
        notices.add(result.tenant_id, "trial_will_end", event["id"],
                    f"Your trial ends{when}. Your card will be charged then unless you cancel.")
        log.info("webhook.trial_will_end", extra={"tenant_id": result.tenant_id})
    return result


HANDLERS: dict[str, Callable[[dict[str, Any], str], SyncResult]] = {
    "checkout.session.completed": on_checkout_completed,
    "customer.subscription.created": on_subscription_event,
    "customer.subscription.updated": on_subscription_event,
    "customer.subscription.deleted": on_subscription_event,
    "invoice.created": on_invoice_changed,
    "invoice.finalized": on_invoice_changed,
    "invoice.updated": on_invoice_changed,
    "invoice.voided": on_invoice_changed,
    "invoice.marked_uncollectible": on_invoice_changed,
    "invoice.paid": on_invoice_paid,
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.payment_failed": on_payment_failed,
    "customer.subscription.trial_will_end": on_trial_will_end,
}


# A Core INSERT built once (the ORM's unit of work costs more than the statement itself here).
_INSERT_EVENT = insert(BillingEvent.__table__).returning(BillingEvent.__table__.c.id)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A first delivery's row as its INSERT wrote it (what storing it decides on): plain values, because
    making an ORM object of the row, never attached to the session, cost as much as the INSERT's execution."""

    id: int
    deliveries: int
    outcome: str
    processed: bool
    tenant_id: str | None


def store(event: dict[str, Any], ignored: bool = False) -> tuple[BillingEvent | StoredEvent, datetime | None]:
    """Insert the event (or count another delivery of it) and commit; the row, and the claim if this delivery
    holds it (`store_with_lease`, without a lease)."""
    row, claimed_at, _ = store_with_lease(event, ignored)
    return row, claimed_at


def store_with_lease(event: dict[str, Any], ignored: bool = False, lease_for: tuple[str, str] | None = None,
                     payload: str | None = None) -> tuple[BillingEvent | StoredEvent, datetime | None, datetime | None]:
    """Insert the event (or count another delivery of it) and commit, before anything acts on it.

    Returns the row (a StoredEvent for a first delivery, else the BillingEvent); when this delivery holds
    the claim to process it, the claim's timestamp: a first delivery is inserted already claimed, so the
    common case is one INSERT and one COMMIT, and nothing is read back after it. With `ignored` (a type
    no handler acts on) that first delivery is stored already processed as ignored, so recording it is
    that one transaction too. `payload` is the event's JSON text as Stripe signed it (the webhook's
    body), kept as it came; without it, the event is serialised.

    With `lease_for` (tenant, subscription: an event a read of its subscription covers), the same
    transaction first takes the tenant's lease (webapp/billing/sync_lease.py): then the third value is
    the lease, and this delivery reads. If another delivery holds it, the event is stored `queued`,
    with no claim, for that holder's next read.
    """
    now = clock.now()
    values = dict(event_id=event["id"], type=event["type"], stripe_created=ts(event["created"]), created_at=now,
                  received_at=now, payload_json=json.dumps(event) if payload is None else payload, deliveries=1,
                  attempts=1, processed=ignored, processed_at=now if ignored else None,
                  processing_started_at=None if ignored else now,
                  outcome="ignored" if ignored else "pending", last_error=None, tenant_id=None, subscription_id=None)
    lease = sync_lease.take_in_transaction(lease_for[0], now) if lease_for else "absent"
    if lease == "held":
        values.update(outcome="queued", processing_started_at=None, attempts=0, tenant_id=lease_for[0],
                      subscription_id=lease_for[1])
    try:
        row_id = _insert_and_commit(values)
        # The row as written (every column was set here): no read, no unit of work.
        stored = StoredEvent(row_id, values["deliveries"], values["outcome"], values["processed"], values["tenant_id"])
        return stored, None if lease == "held" else now, now if lease == "taken" else None
    except IntegrityError:  # delivered before (or at the same moment on another worker); no lease taken
        db.session.rollback()
    row = db.session.scalars(select(BillingEvent).where(BillingEvent.event_id == event["id"])).one()
    db.session.execute(update(BillingEvent).where(BillingEvent.id == row.id)
                       .values(deliveries=BillingEvent.deliveries + 1, received_at=now))
    db.session.commit()
    db.session.refresh(row)
    return row, None, None


def _insert_and_commit(values: dict[str, Any]) -> int:
    """INSERT the event's row and COMMIT; its id.

    In the session's transaction when it has one (the lease's UPDATE came first). Else (in a webhook request,
    every event that takes no lease: nothing has used the session yet) on a connection of the engine's own:
    the same INSERT and COMMIT, without a session transaction begun and ended around one Core statement
    (that bookkeeping cost as much as the INSERT's execution). The session, holding no transaction, is left
    as it was, and later reads in it see the row.
    """
    if db.session().in_transaction():
        row_id: int = execute_core(_INSERT_EVENT, values).scalar_one()
        db.session.commit()
        return row_id
    with db.engine.begin() as connection:  # rolled back if the INSERT fails (a duplicate: IntegrityError)
        return int(connection.execute(_INSERT_EVENT, values).scalar_one())


def claim(row_id: int) -> datetime | None:
    """Take the right to process an unprocessed event, atomically; its timestamp, or None if taken/done."""
    now = clock.now()
    result = db.session.execute(
        update(BillingEvent)
        .where(BillingEvent.id == row_id, BillingEvent.processed.is_(False),
               or_(BillingEvent.processing_started_at.is_(None),
                   BillingEvent.processing_started_at < now - claim_timeout()))
        .values(processing_started_at=now, attempts=BillingEvent.attempts + 1))
    db.session.commit()
    return now if result.rowcount == 1 else None


@contextmanager
def _event_logging(event: dict[str, Any]) -> Iterator[None]:
    """Every log line written while an event is handled carries source=webhook, its id and its type."""
    with log_context(source="webhook", event_id=event["id"], type=event["type"]):
        yield


def record_and_process(event: dict[str, Any], actor: str = "webhook", payload: str | None = None) -> Outcome:
    """Store a verified event (`payload`: its body as Stripe signed it), then apply it exactly once; a
    failure is kept on the row and re-raised.

    A subscription event that arrives while another delivery reads the same tenant's subscription is
    stored `queued` and answered at once: that delivery's next read applies it (sync_lease.py).
    """
    with _event_logging(event):
        target = _coalesce_target(event)
        row, claimed_at, lease = store_with_lease(event, ignored=event["type"] not in HANDLERS, lease_for=target,
                                                  payload=payload)
        if row.processed and claimed_at is not None:  # this delivery stored it, as ignored: one line says both
            log.info("webhook.received", extra={"deliveries": row.deliveries, "outcome": row.outcome,
                                                "tenant_id": None, "changed": []})
            return Outcome(event["id"], event["type"], row.outcome)
        log.info("webhook.received", extra={"deliveries": row.deliveries})
        if isinstance(row, StoredEvent) and row.outcome == "queued":  # this delivery stored it, behind a reader
            log.info("webhook.queued", extra={"tenant_id": row.tenant_id})
            return Outcome(event["id"], event["type"], "queued", row.tenant_id)
        if row.processed:
            log.info("webhook.duplicate")
            return Outcome(event["id"], event["type"], "duplicate", row.tenant_id)
        claimed_at = claimed_at or claim(row.id)
        if claimed_at is None:  # a redelivery (a first one is stored claimed): `row` is the BillingEvent
            db.session.refresh(row)
            if row.processed:  # finished by another delivery a moment ago
                return Outcome(event["id"], event["type"], "duplicate", row.tenant_id)
            log.warning("webhook.in_progress_elsewhere")  # another worker holds it: 409 now, Stripe retries later
            raise Conflict("EVENT_IN_PROGRESS", "Another delivery of this event is being processed; retry later.",
                           event_id=event["id"])
        # Our read covers the events stored before our own (an id is drawn after its event arrived).
        held = (sync_lease.Held(target[0], target[1], lease, row.id)
                if target is not None and lease is not None else None)
        read_at = time.monotonic()
        try:
            outcome = process(row, event, actor, claimed_at, lease=held)
        except Exception:
            if held is not None:
                _hand_over(held.tenant_id, _release_after_failure(held), read_at)
            raise
        if held is not None:
            _hand_over(held.tenant_id, outcome.lease, read_at)
    for event_id in (event["id"], *outcome.covered):
        emails.deliver_after_commit(event_id)
    return outcome


def _release_after_failure(held: sync_lease.Held) -> datetime | None:
    """The holder's read failed: free its lease, or keep it for the events queued meanwhile."""
    try:
        return sync_lease.renew_or_free(held.tenant_id, held.lease_at)
    except SQLAlchemyError:  # the lease expires on its own; the sweep applies what waits
        db.session.rollback()
        log.exception("webhook.lease_release_failed", extra={"tenant_id": held.tenant_id})
        return None


def _coalesce_target(event: dict[str, Any]) -> tuple[str, str] | None:
    """(tenant, subscription) for an event that a later read of its subscription covers; None for every
    other event. The tenant is the one the subscription's metadata names (the lease's UPDATE finds out
    whether it exists), else the one linked to its id or customer; an event with neither is processed
    on its own (and fails as NO_TENANT there)."""
    if event["type"] not in sync_lease.COALESCED:
        return None
    sub = event["data"]["object"]
    sub_id = _id(sub)
    if not sub_id:
        return None
    hints = _hints(sub)
    if hints["tenant_id"]:
        return hints["tenant_id"], sub_id
    ent = find_entitlement(None, hints["customer_id"], sub_id)
    return (ent.tenant_id, sub_id) if ent is not None else None


def _hand_over(tenant_id: str, lease: datetime | None, read_at: float | None) -> None:
    """Events were queued while the holder read (which began at `read_at`, on time.monotonic()): this
    process's background pool reads again for them, one read interval after that read began (the
    answer to Stripe does not wait for it)."""
    if lease is not None:
        background.submit_later(_read_due_in(read_at), current_app._get_current_object(), drain_queued,
                                tenant_id, lease, read_at)


def _read_due_in(last_read_at: float | None) -> float:
    """Seconds until the tenant's subscription may be read again for queued events (0: now)."""
    if last_read_at is None:
        return 0.0
    # Never near the lease's expiry: a lease waiting for its next round must not look like a dead reader's.
    interval = min(current_app.config["SUBSCRIPTION_READ_INTERVAL_SECONDS"], claim_timeout().total_seconds() / 10)
    return last_read_at + interval - time.monotonic()


def drain_queued(tenant_id: str, lease: datetime | None, last_read_at: float | None = None) -> None:
    """Holding the tenant's lease: read each queued subscription again until nothing waits, then free it.

    Each round applies the newest queued event of a subscription, whose fresh read covers the others
    stored before it began. Rounds start at least SUBSCRIPTION_READ_INTERVAL_SECONDS apart (from
    `last_read_at`, the previous read's start on time.monotonic()): a round that would come sooner is
    handed to the background pool for when it is due, the lease still held, so whatever arrives in the
    meantime is covered by that one read. A read that fails marks that subscription's queued events
    failed, with the error (replayable with `flask billing replay --failed`, and counted by the webhook
    alert).
    """
    with log_context(source="webhook", tenant_id=tenant_id):
        while lease is not None:
            subscriptions = sync_lease.queued_subscriptions(tenant_id)
            if not subscriptions:
                lease = sync_lease.renew_or_free(tenant_id, lease)
                continue
            if _read_due_in(last_read_at) > 0:  # too soon after the last read: the next round, when due
                _hand_over(tenant_id, lease, last_read_at)
                return
            last_read_at = time.monotonic()
            lease = _apply_queued(tenant_id, subscriptions[0], lease)


def _apply_queued(tenant_id: str, sub_id: str, lease: datetime) -> datetime | None:
    """One round: apply the newest queued event of the subscription (covering the rest); the lease after it."""
    taken = sync_lease.newest_queued(tenant_id, sub_id)
    if taken is None:  # taken by a redelivery or a replay a moment ago
        return sync_lease.renew_or_free(tenant_id, lease)
    row_id, claimed_at, event, upto = taken
    try:
        with _event_logging(event):
            outcome = process(BillingEvent(id=row_id), event, "webhook", claimed_at,
                              lease=sync_lease.Held(tenant_id, sub_id, lease, upto))
    except Exception as exc:
        failed = sync_lease.fail_queued(tenant_id, sub_id, error_text(exc))
        log.error("webhook.queued_failed", extra={"subscription_id": sub_id, "events": failed + 1,
                                                  "error": error_text(exc)})
        return sync_lease.renew_or_free(tenant_id, lease)
    for event_id in (event["id"], *outcome.covered):
        emails.deliver_after_commit(event_id)
    return outcome.lease


def sweep_queued() -> int:
    """The scheduler's minute job: apply the waiting events their reader left (queued for longer than a lease
    lasts, or claimed by a process that died), and retry those whose read failed (for RETRY_FOR, as Stripe
    retries a failed delivery). Tenants are taken 100 at a time by id. Returns how many it drained."""
    now = clock.now()
    drained, after = 0, ""
    while batch := sync_lease.stuck_tenants(now, after):
        for tenant_id in batch:
            lease = sync_lease.take(tenant_id)
            if lease is not None:  # else a live reader holds it and applies them
                sync_lease.requeue_failed(tenant_id, now)
                drain_queued(tenant_id, lease)
                drained += 1
        after = batch[-1]
    return drained


def _run_handler(event: dict[str, Any], actor: str) -> tuple[str, SyncResult]:
    handler = HANDLERS.get(event["type"])
    result = handler(event, actor) if handler else SyncResult(None, {})
    return ("ignored" if handler is None else ("stale" if result.stale else "applied")), result


def process(row: BillingEvent | StoredEvent, event: dict[str, Any], actor: str, claimed_at: datetime | None,
            lease: sync_lease.Held | None = None) -> Outcome:
    """Run the event's handler and mark the row done — only while our claim still stands.

    With `lease` (the tenant's read lease this delivery holds), the same transaction also marks the
    tenant's waiting events of that subscription stored before the handler's read began done (the read
    covers them), then frees the lease, or keeps it if more are queued (`Outcome.lease`).

    Any failure (the handler, or saving its result) rolls back, keeps the row unprocessed with the
    error, and re-raises so the webhook answers non-2xx and Stripe retries: a known cause (unknown
    price, no tenant, Stripe unreachable) as one ERROR line and an EventFailure, anything else with
    its traceback.
    """
    row_id = row.id
    with _event_logging(event):
        try:
            outcome, result = _run_handler(event, actor)
            covered = sync_lease.cover(lease, outcome) if lease is not None and result.read_at is not None else []
            # Every result naming a tenant locked that tenant's row in this transaction (subscriptions.py).
            kept = (sync_lease.settle(lease.tenant_id, lease.lease_at, locked=result.tenant_id == lease.tenant_id)
                    if lease is not None else None)
            if event["type"] in HANDLERS:
                for applied in (event, *covered):
                    notify.queue_for_event(applied, result.tenant_id)
            still_ours = BillingEvent.processing_started_at == claimed_at if claimed_at else True
            done = db.session.execute(
                update(BillingEvent).where(BillingEvent.id == row_id, BillingEvent.processed.is_(False), still_ours)
                .values(processed=True, processed_at=clock.now(), processing_started_at=None, outcome=outcome,
                        last_error=None, tenant_id=result.tenant_id or BillingEvent.tenant_id)
                .execution_options(synchronize_session=False))
            if done.rowcount != 1:
                raise Conflict("EVENT_IN_PROGRESS", "The claim on this event expired; another delivery took it.",
                               event_id=event["id"])
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            _mark_failed(row_id, exc, claimed_at, _tenant_of(event))
            _log_and_raise("webhook.failed", exc)
        if result.changes:  # Stripe's state moved: say so if an override now disagrees with it
            overrides.warn_if_overridden(result.tenant_id)
        log.info("webhook.processed", extra={"outcome": outcome, "tenant_id": result.tenant_id,
                                             "changed": sorted(result.changes), "covered": len(covered)})
    return Outcome(event["id"], event["type"], outcome, result.tenant_id, result.changes,
                   [e["id"] for e in covered], kept)


def _log_and_raise(name: str, exc: Exception) -> NoReturn:
    """A known cause: one ERROR line with the cause and the fix, raised as its EventFailure (the webhook
    answers with both). Anything else: logged with its traceback and re-raised as it is."""
    known = known_failure(exc)
    if known is None:
        log.exception(name)
        raise exc
    log.error(name, extra={"cause": known.cause, "error": known.message, "fix": known.fix})
    if known is exc:
        raise exc
    raise known from exc


def try_event(event: dict[str, Any], actor: str) -> Outcome:
    """A dry run: apply the event's handler and roll everything back; the row, its attempts and the log's
    levels stay as they were. A failure is re-raised for the caller to report."""
    with _event_logging(event):
        try:
            outcome, result = _run_handler(event, actor)
        finally:
            db.session.rollback()
        log.info("webhook.dry_run", extra={"outcome": outcome, "tenant_id": result.tenant_id,
                                           "changed": sorted(result.changes)})
    return Outcome(event["id"], event["type"], outcome, result.tenant_id, result.changes)


def _tenant_of(event: dict[str, Any]) -> str | None:
    """Whose event this is, as far as the payload and the stored links say (so a failed one is findable)."""
    obj = event["data"]["object"]
    hints = _hints(obj)
    try:
        ent = find_entitlement(hints["tenant_id"], hints["customer_id"],
                               _id(obj) if event["type"].startswith("customer.subscription.") else None)
        tenant_id = ent.tenant_id if ent is not None else None
    except SQLAlchemyError:  # the database itself failed: the original error is what matters
        tenant_id = None
    db.session.rollback()
    return tenant_id


def _mark_failed(row_id: int, exc: Exception, claimed_at: datetime | None, tenant_id: str | None = None) -> None:
    """Release our claim and keep the error on the row (left alone if another delivery took the claim)."""
    still_ours = BillingEvent.processing_started_at == claimed_at if claimed_at else True
    db.session.execute(update(BillingEvent).where(BillingEvent.id == row_id, BillingEvent.processed.is_(False),
                                                  still_ours)
                       .values(processing_started_at=None, outcome="failed", last_error=error_text(exc),
                               tenant_id=tenant_id or BillingEvent.tenant_id)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def reapply(event: dict[str, Any], actor: str) -> Outcome:
    """Run an already processed event's handler again (handlers set state, so this is safe)."""
    with _event_logging(event):
        try:
            outcome, result = _run_handler(event, actor)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            _log_and_raise("webhook.reapply_failed", exc)
        log.info("webhook.reapplied", extra={"tenant_id": result.tenant_id, "changed": sorted(result.changes)})
    return Outcome(event["id"], event["type"], outcome, result.tenant_id, result.changes)


def needs_replay_clause(now: datetime) -> Any:
    """Events that failed, or whose processing stopped mid-way (claim expired or never taken)."""
    return (BillingEvent.processed.is_(False)) & or_(
        BillingEvent.outcome == "failed", BillingEvent.processing_started_at.is_(None),
        BillingEvent.processing_started_at < now - claim_timeout())
