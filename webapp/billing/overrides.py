"""Manual entitlement overrides: set, replace, clear, and their ends (at `until`, on the next paid invoice).

An override is kept in its own table and never touches the entitlement row, which stays what Stripe
says (webhooks and reconcile keep writing it). `services.effective` makes the open override the
tenant's entitlement while it lasts. Every start and end writes an audit row: who, why, before, after.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from webapp import clock
from webapp.billing import audit, services
from webapp.billing.plans import PLANS
from webapp.errors import Conflict, ValidationError
from webapp.extensions import db
from webapp.models import Entitlement, EntitlementOverride
from webapp.models.billing import SUBSCRIPTION_STATUSES

log = logging.getLogger(__name__)

REACTIVATION_DAYS = 7  # the runbook's manual reactivation lasts this long unless an invoice is paid first
MAX_DAYS = 366
EXPIRY_BATCH = 100  # the hourly job ends expired overrides this many at a time (memory stays flat)


@dataclass
class OverrideChange:
    """What starting or ending an override did (or, in a dry run, would do)."""

    tenant_id: str
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        """The stable --json shape of set-entitlement, clear-override and the reactivation script."""
        return {"tenant_id": self.tenant_id, "action": self.action, "dry_run": self.dry_run,
                "before": self.before, "after": self.after, "warnings": self.warnings}


def override_snapshot(ovr: EntitlementOverride | None) -> dict[str, Any] | None:
    """An override as JSON-ready fields (None for no override)."""
    if ovr is None:
        return None
    return {"plan": ovr.plan, "subscription_status": ovr.subscription_status, "actor": ovr.actor,
            "reason": ovr.reason, "starts_at": clock.isoformat(ovr.starts_at), "until": clock.isoformat(ovr.until),
            "ends_on_paid_invoice": ovr.ends_on_paid_invoice}


def effective_snapshot(ent: Entitlement, ovr: EntitlementOverride | None) -> dict[str, Any]:
    """The effective entitlement with `ovr` in force (or Stripe's state for None), JSON-ready."""
    eff = services.effective_with(ent, ovr)
    return {"plan": eff.plan, "active": eff.active, "subscription_status": eff.subscription_status,
            "tx_cap": eff.tx_cap, "bulk_approve": eff.bulk_approve, "included_companies": eff.included_companies,
            "addon_companies": eff.addon_companies, "override": override_snapshot(ovr)}


def disagreements(ent: Entitlement, plan: str, status: str) -> list[str]:
    """Warnings when an override's plan or status differs from what Stripe last said."""
    if (plan, status) == (ent.plan, ent.subscription_status):
        return []
    stripe_side = f"{ent.plan} ({ent.subscription_status})"
    sub = f" on {ent.stripe_subscription_id}" if ent.stripe_subscription_id else ", no subscription"
    return [f"Stripe says {stripe_side}{sub}; the override gives {plan} ({status}) and wins until it ends."]


def check_request(plan: str, status: str, until: datetime | None, reason: str | None) -> str:
    """Refuse an unknown plan or status, a past `until` or a missing reason; the cleaned reason."""
    if not plan:
        raise ValidationError(f"--plan is required: one of {', '.join(PLANS)}.", {"plan": "required"})
    if plan not in PLANS:
        raise ValidationError(f"Unknown plan '{plan}': use one of {', '.join(PLANS)}.", {"plan": "unknown"})
    if status not in SUBSCRIPTION_STATUSES:
        raise ValidationError(f"Unknown status '{status}': use one of {', '.join(SUBSCRIPTION_STATUSES)}.",
                              {"status": "unknown"})
    now = clock.now()
    if until is not None and until <= now:
        raise ValidationError(f"--until {clock.isoformat(until)} is not in the future.", {"until": "in the past"})
    if until is not None and until > now + timedelta(days=MAX_DAYS):
        raise ValidationError(f"--until is more than {MAX_DAYS} days away.", {"until": "too far"})
    return require_reason(reason)


def require_reason(reason: str | None) -> str:
    """A change needs a reason: the cleaned text, or ValidationError."""
    text = (reason or "").strip()
    if not text:
        raise ValidationError("--reason is required: say why (a ticket number, what the customer asked).",
                              {"reason": "required"})
    return text


def set_override(tenant_id: str, plan: str, status: str, until: datetime | None, *, actor: str,
                 reason: str | None, ends_on_paid_invoice: bool = False, dry_run: bool = False,
                 action: str = "set_entitlement") -> OverrideChange:
    """Start an override (replacing any open one), audited; a dry run computes the same and writes nothing."""
    why = check_request(plan, status, until, reason)
    ent = services.get_entitlement(tenant_id)
    if not dry_run:
        services.lock_entitlement(tenant_id)  # one override change per tenant at a time
        db.session.refresh(ent)
    now = clock.now()
    current = services.open_override(ent, now)
    new = EntitlementOverride(tenant_id=tenant_id, plan=plan, subscription_status=status, actor=actor, reason=why,
                              starts_at=now, until=until, ends_on_paid_invoice=ends_on_paid_invoice)
    change = OverrideChange(tenant_id, action, effective_snapshot(ent, current), effective_snapshot(ent, new),
                            disagreements(ent, plan, status), dry_run)
    if dry_run:
        return change
    if ent.override is not None:  # open (perhaps past its until, not yet ended by the job): replaced now
        _end(ent.override, now, actor, "replaced by a new override")
        db.session.flush()  # the partial unique index allows one open override: end the old one first
    db.session.add(new)
    audit.write(tenant_id, action, actor, change.before, change.after, why)
    db.session.commit()
    log.info("billing.override_set", extra={"tenant_id": tenant_id, "plan": plan, "status": status,
                                            "until": clock.isoformat(until), "actor": actor})
    return change


NOTHING_TO_CLEAR = "nothing_to_clear"


def clear_override(tenant_id: str, *, actor: str, reason: str | None, dry_run: bool = False) -> OverrideChange:
    """End the tenant's open override now, audited (action NOTHING_TO_CLEAR, and no change, without one)."""
    why = require_reason(reason)
    ent = services.get_entitlement(tenant_id)
    if not dry_run:
        services.lock_entitlement(tenant_id)
        db.session.refresh(ent)
    ovr = ent.override
    if ovr is None:
        db.session.rollback()
        now = effective_snapshot(ent, None)
        return OverrideChange(tenant_id, NOTHING_TO_CLEAR, now, now, [], dry_run)
    change = OverrideChange(tenant_id, "clear_override", effective_snapshot(ent, ovr),
                            effective_snapshot(ent, None), [], dry_run)
    if dry_run:
        return change
    _end(ovr, clock.now(), actor, "cleared")
    audit.write(tenant_id, "clear_override", actor, change.before, change.after, why)
    db.session.commit()
    log.info("billing.override_cleared", extra={"tenant_id": tenant_id, "actor": actor})
    return change


def reactivate(tenant_id: str, *, actor: str, reason: str, days: int | None = None,
               dry_run: bool = False) -> OverrideChange:
    """The runbook's manual reactivation: the tenant's Stripe plan, active, until the next paid invoice or
    `days` (default 7) days, whichever comes first."""
    ent = services.get_entitlement(tenant_id)
    if not PLANS[ent.plan].paid:
        raise Conflict("NO_PAID_PLAN", f"Tenant {tenant_id} is on the free plan: there is no subscription to "
                       "reactivate (check `flask billing show`, or use `flask billing set-entitlement`).")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"--days must be between 1 and {MAX_DAYS}.", {"days": "out of range"})
    until = (clock.now() + timedelta(days=days or REACTIVATION_DAYS)).replace(microsecond=0)
    return set_override(tenant_id, ent.plan, "active", until, actor=actor, reason=reason,
                        ends_on_paid_invoice=True, dry_run=dry_run, action="manual_reactivate")


def _end(ovr: EntitlementOverride, now: datetime, by: str, why: str) -> None:
    ovr.ended_at, ovr.ended_by, ovr.end_reason = now, by, why


def _end_if_open(ovr_id: int, now: datetime, by: str, why: str) -> bool:
    """End an override unless someone else already did (two schedulers, a clear at the same moment)."""
    done = db.session.execute(update(EntitlementOverride)
                              .where(EntitlementOverride.id == ovr_id, EntitlementOverride.ended_at.is_(None))
                              .values(ended_at=now, ended_by=by, end_reason=why)
                              .execution_options(synchronize_session=False))
    return done.rowcount == 1


def end_expired(actor: str = "scheduler") -> int:
    """End every override past its `until`, each with an audit row, in batches; how many were ended."""
    now, ended = clock.now(), 0
    while True:
        batch = list(db.session.scalars(
            select(EntitlementOverride)
            .where(EntitlementOverride.ended_at.is_(None), EntitlementOverride.until <= now)
            .order_by(EntitlementOverride.id).limit(EXPIRY_BATCH)))
        if not batch:
            return ended
        for ovr in batch:
            ent = services.get_entitlement(ovr.tenant_id)
            before = effective_snapshot(ent, ovr)
            if _end_if_open(ovr.id, now, actor, "until reached"):
                audit.write(ovr.tenant_id, "override_expired", actor, before, effective_snapshot(ent, None),
                            f"override until {clock.isoformat(ovr.until)} reached")
                ended += 1
                log.info("billing.override_expired", extra={"tenant_id": ovr.tenant_id, "plan": ovr.plan})
        db.session.commit()
        db.session.expire_all()


def end_on_paid_invoice(tenant_id: str | None, invoice: dict[str, Any], event_id: str,
                        event_created: datetime | None) -> bool:
    """A reactivation override ends when Stripe reports a paid invoice after it began (caller commits)."""
    if tenant_id is None or invoice.get("status") != "paid":
        return False
    ent = db.session.get(Entitlement, tenant_id)
    ovr = ent.override if ent is not None else None
    if ent is None or ovr is None or not ovr.ends_on_paid_invoice:
        return False
    if event_created is not None and event_created < ovr.starts_at:
        return False  # an invoice paid before the override began is not "the next" one
    before = effective_snapshot(ent, ovr)
    if not _end_if_open(ovr.id, clock.now(), "webhook", f"invoice {invoice.get('id')} paid"):
        return False
    audit.write(tenant_id, "override_ended", "webhook", before, effective_snapshot(ent, None),
                f"invoice {invoice.get('id')} paid", event_id=event_id)
    db.session.expire(ent, ["override"])
    log.info("billing.override_ended_by_payment", extra={"tenant_id": tenant_id, "invoice": invoice.get("id")})
    return True


def warn_if_overridden(tenant_id: str | None, log_it: bool = True) -> list[str]:
    """After Stripe's state was recorded: the disagreement of an open override with it (a WARNING line)."""
    ent = db.session.get(Entitlement, tenant_id) if tenant_id else None
    ovr = services.open_override(ent) if ent is not None else None
    if ent is None or ovr is None:
        return []
    warnings = disagreements(ent, ovr.plan, ovr.subscription_status)
    if warnings and log_it:
        log.warning("billing.override_disagrees_with_stripe",
                    extra={"tenant_id": ent.tenant_id, "override": f"{ovr.plan} ({ovr.subscription_status})",
                           "stripe": f"{ent.plan} ({ent.subscription_status})",
                           "until": clock.isoformat(ovr.until)})
    return warnings
