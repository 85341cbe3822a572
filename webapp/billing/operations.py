"""Operator actions: replay stored events and reconcile with Stripe. Entitlement changes are audited."""
from __future__ import annotations

import getpass
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from webapp import clock
from webapp.billing import audit, copies, events, overrides, stripe_gateway
from webapp.billing.event_failures import error_text, known_failure
from webapp.billing.subscriptions import ENDED_STATUSES, live_subscription_of, sync_from_stripe
from webapp.errors import EventFailure, NotFound, ValidationError
from webapp.extensions import db
from webapp.models import BillingEvent, Entitlement

log = logging.getLogger(__name__)


@dataclass
class Report:
    """One line of an operator command's output: what it looked at and what changed."""

    subject: str
    tenant_id: str | None
    outcome: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The stable --json shape of one reconciled tenant."""
        return {"subject": self.subject, "tenant_id": self.tenant_id, "outcome": self.outcome,
                "changes": {k: [b, a] for k, (b, a) in sorted(self.changes.items())}, "error": self.error}


def change_text(changes: dict[str, tuple[Any, Any]], verb: str) -> str:
    """": changed plan 'free' → 'starter', …" (or ": would change …"), or " no change"."""
    if not changes:
        return " no change"
    return f": {verb} " + ", ".join(f"{k} {b!r} → {a!r}" for k, (b, a) in sorted(changes.items()))


# A dry run changed nothing, so its lines say what a real run would do.
DRY_RUN_OUTCOMES = {"drift fixed": "drift found", "applied": "would apply"}


def describe(reports: Iterable[Report], dry_run: bool) -> Iterator[str]:
    """Human lines for reports, one as each arrives, then the count (reports may be a stream)."""
    verb = "would change" if dry_run else "changed"
    count = changed = 0
    for r in reports:
        count += 1
        changed += bool(r.changes)
        outcome = DRY_RUN_OUTCOMES.get(r.outcome, r.outcome) if dry_run else r.outcome
        head = f"{r.subject} tenant={r.tenant_id or '-'} {outcome}"
        yield f"{head} ERROR {r.error}" if r.error else head + change_text(r.changes, verb)
    if not count:
        yield "Nothing to do."
        return
    yield f"{count} item(s); {changed} with changes" + (" (dry run: nothing saved)" if dry_run else "")


@dataclass
class ReplayResult:
    """One replayed event: its id, type and tenant, the outcome, what changed, and the error if it failed."""

    event_id: str
    type: str
    tenant_id: str | None
    outcome: str  # applied | ignored | stale | failed | skipped (being processed right now)
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    error: str | None = None
    cause: str | None = None

    @property
    def failed(self) -> bool:
        """True when the event still does not apply."""
        return self.outcome == "failed"

    def as_json(self) -> dict[str, Any]:
        """The stable --json shape of one replayed event (also what the admin page shows)."""
        return {"event_id": self.event_id, "type": self.type, "tenant_id": self.tenant_id, "outcome": self.outcome,
                "changes": {k: [b, a] for k, (b, a) in sorted(self.changes.items())}, "error": self.error,
                "cause": self.cause}


def events_to_replay(event_id: str | None = None, failed: bool = False) -> list[int]:
    """The row ids a replay takes, oldest first: one event by id (NotFound if unknown), or every one that
    needs it. Ids only: the payloads are read one at a time."""
    if bool(event_id) == failed:
        raise ValidationError("Give an event id or --failed.", {"event_id": "give one, or --failed"})
    stmt = select(BillingEvent.id).order_by(BillingEvent.stripe_created, BillingEvent.id)
    if event_id:
        stmt = stmt.where(BillingEvent.event_id == event_id)
    else:
        stmt = stmt.where(events.needs_replay_clause(clock.now()))
    ids = list(db.session.scalars(stmt))
    if event_id and not ids:
        raise NotFound(f"No stored event {event_id}.", ids=[event_id])
    return ids


def replay(event_id: str | None = None, failed: bool = False, dry_run: bool = False,
           actor: str = "flask billing replay", reason: str | None = None) -> list[ReplayResult]:
    """Re-apply stored events: one by id, or every one that failed or stopped mid-way (claim expired).

    Each event gets its outcome; a failure is kept on its row (not in a dry run, which changes nothing:
    no claim, no attempt counted, no row or entitlement written, no ERROR logged).
    """
    results = []
    with audit.reason(reason):
        for row_id in events_to_replay(event_id, failed):
            row = db.session.get(BillingEvent, row_id)
            if row is not None:  # the session's identity map is weak: rows already replayed are let go
                results.append(_replay_one(row, actor, dry_run))
    return results


def _replay_one(row: BillingEvent, actor: str, dry_run: bool) -> ReplayResult:
    row_id, event_id, type_, tenant_id = row.id, row.event_id, row.type, row.tenant_id
    payload = json.loads(row.payload_json)
    try:
        if dry_run:
            outcome = events.try_event(payload, actor)
        elif row.processed:
            outcome = events.reapply(payload, actor)
        else:
            claimed_at = events.claim(row_id)
            if claimed_at is None:
                return ReplayResult(event_id, type_, tenant_id, "skipped", error="being processed right now")
            outcome = events.process(row, payload, actor, claimed_at)
    except Exception as exc:  # noqa: BLE001  (reported per event; process() keeps the error on the row)
        known = known_failure(exc)
        return ReplayResult(event_id, type_, tenant_id, "failed", error=error_text(exc),
                            cause=known.cause if known else None)
    return ReplayResult(event_id, type_, outcome.tenant_id or tenant_id, outcome.outcome, outcome.changes)


def describe_replay(results: list[ReplayResult], dry_run: bool) -> list[str]:
    """One line per replayed event (id, type, tenant, outcome, changes or error), then a summary."""
    if not results:
        return ["Nothing to replay."]
    verb = "would change" if dry_run else "changed"
    lines = []
    for r in results:
        outcome = DRY_RUN_OUTCOMES.get(r.outcome, r.outcome) if dry_run else r.outcome
        head = f"{r.event_id} {r.type} tenant={r.tenant_id or '-'} {outcome}"
        lines.append(f"{head}: {r.error}" if r.error else head + change_text(r.changes, verb))
    still = sum(1 for r in results if r.failed)
    lines.append(f"{len(results)} event(s): {len(results) - still} ok, {still} still failing"
                 + (" (dry run: nothing saved)" if dry_run else ""))
    return lines


RECONCILE_BATCH = 500  # tenant ids read at a time


def reconcile(tenant_id: str | None = None, dry_run: bool = False, actor: str = "flask billing reconcile",
              reason: str | None = None) -> Iterator[Report]:
    """Re-read each billing customer's subscription from Stripe and apply it, reporting the drift.

    The subscription is the linked one, or — when none is linked or it has ended — the customer's
    newest live one, so an entitlement whose webhooks were all lost is found and fixed too.

    An unknown tenant is refused at once (NotFound); otherwise the reports come as a stream, one per
    tenant as it is done, and the tenants are read RECONCILE_BATCH ids at a time (keyset on the id),
    so nothing held in memory grows with the number of tenants.
    """
    if tenant_id and db.session.get(Entitlement, tenant_id) is None:
        raise NotFound(f"No tenant {tenant_id}.", ids=[tenant_id])
    return _reconcile_each(iter([tenant_id]) if tenant_id else _billed_tenants(), dry_run, actor, reason)


def _billed_tenants() -> Iterator[str]:
    """The ids of tenants with a Stripe customer, in order, a batch at a time."""
    after = ""
    while True:
        ids = list(db.session.scalars(
            select(Entitlement.tenant_id).where(Entitlement.stripe_customer_id.is_not(None),
                                                Entitlement.tenant_id > after)
            .order_by(Entitlement.tenant_id).limit(RECONCILE_BATCH)))
        db.session.commit()  # end the read: each tenant's work has its own short transactions
        yield from ids
        if len(ids) < RECONCILE_BATCH:
            return
        after = ids[-1]


def _reconcile_each(tenant_ids: Iterator[str], dry_run: bool, actor: str, reason: str | None) -> Iterator[Report]:
    with audit.reason(reason):
        for tenant_id in tenant_ids:
            ent = db.session.get(Entitlement, tenant_id)
            if ent is not None:  # a tenant deleted since its id was read has nothing to reconcile
                yield _reconcile_one(ent, actor, dry_run)


def _reconcile_one(ent: Entitlement, actor: str, dry_run: bool) -> Report:
    tenant, customer, linked = ent.tenant_id, ent.stripe_customer_id, ent.stripe_subscription_id
    if customer is None:
        return Report("-", tenant, "no billing account")
    target = linked
    if linked is None or ent.subscription_status in ENDED_STATUSES:
        live = live_subscription_of(customer)
        target = live["id"] if live else linked
    if target is None:
        return Report(customer, tenant, "no subscription")
    db.session.commit()  # nothing pending: end the read before asking Stripe
    try:
        invoices = stripe_gateway.gateway().list_invoices(customer)
        result = sync_from_stripe(target, actor=actor, hints={"tenant_id": tenant})
    except EventFailure as exc:  # one tenant's unknown price must not stop the others
        db.session.rollback()
        return Report(target, tenant, "failed", error=f"{exc.cause}: {exc.message} (fix: {exc.fix})")
    copies.backfill_invoices(tenant, invoices)
    outcome = "drift fixed" if result.changes else "in sync"
    if overrides.warn_if_overridden(tenant, log_it=not dry_run):
        outcome += " (an override is in force: the effective plan stays its own until it ends)"
    report = Report(target, tenant, outcome, result.changes)
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return report


def operator() -> str:
    """Who ran an operator command: the OS user (SUDO_USER when run through sudo)."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"
