"""Operator actions: replay stored events, reconcile with Stripe, reactivate by hand. All audited."""
from __future__ import annotations

import getpass
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from webapp import clock
from webapp.billing import audit, copies, events, notices, stripe_gateway
from webapp.billing.plans import PLANS
from webapp.billing.subscriptions import ENDED_STATUSES, live_subscription_of, set_plan, sync_from_stripe
from webapp.errors import Conflict, NotFound
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


# A dry run changed nothing, so its lines say what a real run would do.
DRY_RUN_OUTCOMES = {"drift fixed": "drift found", "applied": "would apply"}


def describe(reports: list[Report], dry_run: bool) -> list[str]:
    """Human lines for a list of reports."""
    if not reports:
        return ["Nothing to do."]
    lines = []
    verb = "would change" if dry_run else "changed"
    for r in reports:
        outcome = DRY_RUN_OUTCOMES.get(r.outcome, r.outcome) if dry_run else r.outcome
        head = f"{r.subject} tenant={r.tenant_id or '-'} {outcome}"
        if r.error:
            lines.append(f"{head} ERROR {r.error}")
        elif r.changes:
            lines.append(f"{head}: {verb} " + ", ".join(f"{k} {b!r} → {a!r}" for k, (b, a) in sorted(r.changes.items())))
        else:
            lines.append(f"{head} no change")
    lines.append(f"{len(reports)} item(s); {sum(1 for r in reports if r.changes)} with changes"
                 + (" (dry run: nothing saved)" if dry_run else ""))
    return lines


def replay(event_id: str | None = None, failed: bool = False, dry_run: bool = False) -> list[Report]:
    """Re-apply stored events: one by id, or every one that failed or stopped mid-way (claim expired)."""
    stmt = select(BillingEvent).order_by(BillingEvent.stripe_created, BillingEvent.id)
    if event_id:
        stmt = stmt.where(BillingEvent.event_id == event_id)
    else:
        stmt = stmt.where(events.needs_replay_clause(clock.now()))
    rows = list(db.session.scalars(stmt))
    if event_id and not rows:
        raise NotFound(f"No stored event {event_id}.", ids=[event_id])
    reports = []
    for row in rows:
        payload = json.loads(row.payload_json)
        try:
            if row.processed:
                outcome = events.reapply(payload, actor="flask billing replay", dry_run=dry_run)
            else:
                claimed_at = events.claim(row.id)
                if claimed_at is None:
                    reports.append(Report(row.event_id, row.tenant_id, "skipped", error="being processed right now"))
                    continue
                outcome = events.process(row, payload, "flask billing replay", claimed_at, dry_run=dry_run)
        except Exception as exc:  # noqa: BLE001  (reported per event; the error is kept on the row)
            reports.append(Report(row.event_id, row.tenant_id, "failed", error=f"{type(exc).__name__}: {exc}"))
            continue
        reports.append(Report(row.event_id, outcome.tenant_id, outcome.outcome, outcome.changes))
    return reports


def reconcile(tenant_id: str | None = None, dry_run: bool = False) -> list[Report]:
    """Re-read each billing customer's subscription from Stripe and apply it, reporting the drift.

    The subscription is the linked one, or — when none is linked or it has ended — the customer's
    newest live one, so an entitlement whose webhooks were all lost is found and fixed too.
    """
    stmt = select(Entitlement).where(Entitlement.stripe_customer_id.is_not(None)).order_by(Entitlement.tenant_id)
    if tenant_id:
        if db.session.get(Entitlement, tenant_id) is None:
            raise NotFound(f"No tenant {tenant_id}.", ids=[tenant_id])
        stmt = select(Entitlement).where(Entitlement.tenant_id == tenant_id)
    reports = []
    for ent in list(db.session.scalars(stmt)):
        tenant, customer, linked = ent.tenant_id, ent.stripe_customer_id, ent.stripe_subscription_id
        if customer is None:
            reports.append(Report("-", tenant, "no billing account"))
            continue
        target = linked
        if linked is None or ent.subscription_status in ENDED_STATUSES:
            live = live_subscription_of(customer)
            target = live["id"] if live else linked
        if target is None:
            reports.append(Report(customer, tenant, "no subscription"))
            continue
        db.session.commit()  # nothing pending: end the read before asking Stripe
        invoices = stripe_gateway.gateway().list_invoices(customer)
        result = sync_from_stripe(target, actor="flask billing reconcile", hints={"tenant_id": tenant})
        copies.backfill_invoices(tenant, invoices)
        reports.append(Report(target, tenant, "drift fixed" if result.changes else "in sync", result.changes))
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    return reports


def reactivate(tenant_id: str, actor: str) -> Report:
    """Set the entitlement active/active with its plan's limits, audited; NotFound for an unknown tenant."""
    ent = db.session.get(Entitlement, tenant_id)
    if ent is None:
        raise NotFound(f"No tenant {tenant_id}.", ids=[tenant_id])
    if not PLANS[ent.plan].paid:
        raise Conflict("NO_PAID_PLAN", f"Tenant {tenant_id} is on the free plan: there is no subscription to "
                       "reactivate (check Stripe, then `flask billing reconcile`).")
    actor = f"{actor} (by {_operator()})"
    before = audit.snapshot(ent)
    ent.active, ent.subscription_status = True, "active"
    set_plan(ent, ent.plan, ent.addon_companies)
    notices.resolve(tenant_id, ent.subscription_status)  # a failed-payment notice ends with the problem
    changes = audit.record(ent, before, "manual_reactivate", actor, always=True)
    db.session.commit()
    log.info("billing.reactivated", extra={"tenant_id": tenant_id, "actor": actor})
    return Report(tenant_id, tenant_id, "reactivated", changes)


def _operator() -> str:
    """Who ran an operator command: the OS user (SUDO_USER when run through sudo)."""
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown user"
