"""Operator actions: replay stored events, reconcile with Stripe, reactivate by hand. All audited."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from webapp.billing import audit, events, stripe_gateway
from webapp.billing.subscriptions import apply_subscription, set_plan
from webapp.errors import NotFound
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


def describe(reports: list[Report], dry_run: bool) -> list[str]:
    """Human lines for a list of reports."""
    if not reports:
        return ["Nothing to do."]
    lines = []
    verb = "would change" if dry_run else "changed"
    for r in reports:
        head = f"{r.subject} tenant={r.tenant_id or '-'} {r.outcome}"
        if r.error:
            lines.append(f"{head} ERROR {r.error}")
        elif r.changes:
            lines.append(f"{head} {verb}: " + ", ".join(f"{k} {b!r} → {a!r}" for k, (b, a) in sorted(r.changes.items())))
        else:
            lines.append(f"{head} no change")
    lines.append(f"{len(reports)} item(s); {sum(1 for r in reports if r.changes)} with changes"
                 + (" (dry run: nothing saved)" if dry_run else ""))
    return lines


def replay(event_id: str | None = None, failed: bool = False, dry_run: bool = False) -> list[Report]:
    """Re-apply stored events; handlers set state, so re-applying a processed one is harmless."""
    stmt = select(BillingEvent).order_by(BillingEvent.stripe_created, BillingEvent.id)
    if event_id:
        stmt = stmt.where(BillingEvent.event_id == event_id)
    else:
        stmt = stmt.where(BillingEvent.processed.is_(False), BillingEvent.outcome == "failed")
    rows = list(db.session.scalars(stmt))
    if event_id and not rows:
        raise NotFound(f"No stored event {event_id}.", ids=[event_id])
    reports = []
    for row in rows:
        payload = json.loads(row.payload_json)
        row.attempts += 1
        try:
            outcome = events.process(row, payload, actor="flask billing replay", commit=False)
        except Exception as exc:  # noqa: BLE001  (reported per event; process() kept the error on the row)
            reports.append(Report(row.event_id, row.tenant_id, "failed", error=str(exc)))
            continue
        reports.append(Report(row.event_id, outcome.tenant_id, outcome.outcome, outcome.changes))
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    return reports


def reconcile(tenant_id: str | None = None, dry_run: bool = False) -> list[Report]:
    """Re-read each tenant's subscription from Stripe and apply it, reporting the drift."""
    stmt = select(Entitlement).where(Entitlement.stripe_subscription_id.is_not(None))
    if tenant_id:
        if db.session.get(Entitlement, tenant_id) is None:
            raise NotFound(f"No tenant {tenant_id}.", ids=[tenant_id])
        stmt = select(Entitlement).where(Entitlement.tenant_id == tenant_id)
    reports = []
    for ent in list(db.session.scalars(stmt)):
        subject = ent.stripe_subscription_id or "-"
        if not ent.stripe_subscription_id:
            reports.append(Report(subject, ent.tenant_id, "no subscription"))
            continue
        sub = stripe_gateway.gateway().retrieve_subscription(ent.stripe_subscription_id)
        if sub is None:
            reports.append(Report(subject, ent.tenant_id, "missing in Stripe", error="Stripe does not know it"))
            continue
        result = apply_subscription(sub, actor="flask billing reconcile")
        reports.append(Report(subject, ent.tenant_id, "drift fixed" if result.changes else "in sync", result.changes))
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
    before = audit.snapshot(ent)
    ent.active, ent.subscription_status = True, "active"
    set_plan(ent, ent.plan, ent.addon_companies)
    changes = audit.record(ent, before, "manual_reactivate", actor, always=True)
    db.session.commit()
    log.info("billing.reactivated", extra={"tenant_id": tenant_id, "actor": actor})
    return Report(tenant_id, tenant_id, "reactivated", changes)
