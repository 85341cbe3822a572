"""Support tools behind `flask billing show|events|set-entitlement|clear-override` and `flask usage reset`.

Each function finds the tenant by id or by a user's email, refuses bad input with a domain error before
changing anything, and returns a JSON-ready dict (the commands' stable --json shape).
"""
from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from webapp import clock
from webapp.billing import audit, overrides, services, stripe_gateway
from webapp.billing.plans import FREE_DAILY_ANALYZE_LIMIT, PLANS
from webapp.errors import DomainError, NotFound, ValidationError
from webapp.extensions import db
from webapp.metering import rollover, usage
from webapp.metering.gate import tier_of
from webapp.models import BillingAudit, BillingEvent, Company, Tenant, UsageDaily, UsageMonthly, User

log = logging.getLogger(__name__)

SHOW_EVENTS, SHOW_AUDIT = 10, 5
MAX_EVENTS = 1000
SINCE_RE = re.compile(r"^(\d{1,5})([dhm])$")
SINCE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def find_tenant(ref: str) -> Tenant:
    """The tenant with this id, or the tenant of the user with this email; NotFound otherwise."""
    ref = (ref or "").strip()
    if "@" in ref:
        tenant_id = db.session.scalar(select(User.tenant_id).where(User.email == ref.lower()))
        tenant = db.session.get(Tenant, tenant_id) if tenant_id else None
    else:
        tenant = db.session.get(Tenant, ref) if ref else None
    if tenant is None:
        what = "user with email" if "@" in ref else "tenant"
        raise NotFound(f"No {what} '{ref}'.", ids=[ref])
    return tenant


# --- reading -------------------------------------------------------------------------------------------------

def event_json(row: BillingEvent) -> dict[str, Any]:
    """One stored event, as `events` and `show` print it."""
    return {"event_id": row.event_id, "type": row.type, "created": clock.isoformat(row.stripe_created),
            "received_at": clock.isoformat(row.received_at), "tenant_id": row.tenant_id, "outcome": row.outcome,
            "processed": row.processed, "attempts": row.attempts, "deliveries": row.deliveries,
            "last_error": row.last_error}


def audit_json(row: BillingAudit) -> dict[str, Any]:
    """One audit row: when, what, who, why, before and after."""
    return {"created_at": clock.isoformat(row.created_at), "action": row.action, "actor": row.actor,
            "reason": row.reason, "event_id": row.event_id, "before": json.loads(row.before_json),
            "after": json.loads(row.after_json)}


def parse_since(text: str | None) -> datetime | None:
    """'7d', '12h', '30m' ago, or an ISO date/time (UTC); ValidationError for anything else."""
    if not text:
        return None
    match = SINCE_RE.match(text.strip())
    if match:
        return clock.now() - timedelta(**{SINCE_UNITS[match.group(2)]: int(match.group(1))})
    return parse_moment(text, "since", "is neither like 7d, 12h, 30m nor a date like 2025-11-01.")


def parse_moment(text: str, option: str, complaint: str) -> datetime:
    """An ISO date or date-time given on the command line, in UTC unless it says otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"--{option} '{text}' {complaint}", {option: "unreadable"}) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_events(tenant: str | None = None, type_: str | None = None, failed: bool = False, pending: bool = False,
                since: str | None = None, limit: int = 50) -> dict[str, Any]:
    """Stored events, newest first, filtered by tenant, type (a trailing * matches a prefix), state, age."""
    if failed and pending:
        raise ValidationError("Give --failed or --pending, not both.", {"state": "one of failed, pending"})
    if not 1 <= limit <= MAX_EVENTS:
        raise ValidationError(f"--limit must be between 1 and {MAX_EVENTS}.", {"limit": "out of range"})
    stmt = select(BillingEvent).order_by(BillingEvent.created_at.desc(), BillingEvent.id.desc()).limit(limit)
    tenant_id = find_tenant(tenant).id if tenant else None
    if tenant_id:
        stmt = stmt.where(BillingEvent.tenant_id == tenant_id)
    if type_:
        stmt = stmt.where(BillingEvent.type.startswith(type_[:-1], autoescape=True) if type_.endswith("*")
                          else BillingEvent.type == type_)
    if failed:
        stmt = stmt.where(BillingEvent.outcome == "failed")
    if pending:
        stmt = stmt.where(BillingEvent.processed.is_(False), BillingEvent.outcome != "failed")
    moment = parse_since(since)
    if moment is not None:
        stmt = stmt.where(BillingEvent.created_at >= moment)
    rows = [event_json(r) for r in db.session.scalars(stmt)]
    return {"filters": {"tenant_id": tenant_id, "type": type_, "failed": failed, "pending": pending,
                        "since": clock.isoformat(moment), "limit": limit}, "events": rows}


def _stripe_now(customer_id: str | None, subscription_id: str | None, offline: bool) -> dict[str, Any]:
    """What Stripe says about the subscription now: one API call (none offline or without a customer)."""
    out: dict[str, Any] = {"customer_id": customer_id, "subscription_id": subscription_id, "checked": False,
                           "status": None, "plan": None, "current_period_end": None,
                           "cancel_at_period_end": None, "error": None}
    if offline or customer_id is None:
        out["error"] = "skipped (--offline)" if offline else "no Stripe customer yet"
        return out
    try:
        if subscription_id is not None:
            sub = stripe_gateway.gateway().retrieve_subscription(subscription_id)
        else:  # none linked: the customer's newest subscription, if Stripe has one the app never heard of
            sub = next(iter(stripe_gateway.gateway().list_subscriptions(customer_id)), None)
    except DomainError as exc:  # not configured, unreachable, refused: show says so and goes on
        out["error"] = exc.message
        return out
    out["checked"] = True
    if sub is None:
        out["error"] = ("Stripe does not know this subscription" if subscription_id
                        else "Stripe has no subscription for this customer")
        return out
    out["subscription_id"] = sub.get("id")
    items = (sub.get("items") or {}).get("data") or []
    plans = [_plan_of(item.get("price") or {}) for item in items]
    out.update(status=sub.get("status"), plan=next((p for p in plans if p in PLANS), plans[0] if plans else None),
               cancel_at_period_end=bool(sub.get("cancel_at_period_end") or sub.get("cancel_at")))
    end = next((i.get("current_period_end") for i in items if i.get("current_period_end")),
               sub.get("current_period_end"))
    out["current_period_end"] = clock.isoformat(datetime.fromtimestamp(end, UTC)) if end else None
    return out


def _plan_of(price: dict[str, Any]) -> str | None:
    """A price's plan from its lookup key or metadata (no second API call); else its id."""
    for key in (price.get("lookup_key"), (price.get("metadata") or {}).get("plan")):
        if key in PLANS:
            return str(key)
    return price.get("id")


def show(ref: str, offline: bool = False) -> dict[str, Any]:
    """Everything support needs about one tenant, from the database and (one call) Stripe."""
    tenant = find_tenant(ref)
    ent = services.get_entitlement(tenant.id)
    ovr = services.open_override(ent)
    now = clock.now()
    counts = usage.read_counts(tenant.id, now)
    tier = tier_of(ent)
    emails = list(db.session.scalars(select(User.email).where(User.tenant_id == tenant.id).order_by(User.email)))
    companies = db.session.scalar(select(func.count()).select_from(Company).where(Company.tenant_id == tenant.id))
    events = db.session.scalars(select(BillingEvent).where(BillingEvent.tenant_id == tenant.id)
                                .order_by(BillingEvent.created_at.desc(), BillingEvent.id.desc()).limit(SHOW_EVENTS))
    audits = db.session.scalars(select(BillingAudit).where(BillingAudit.tenant_id == tenant.id)
                                .order_by(BillingAudit.created_at.desc(), BillingAudit.id.desc()).limit(SHOW_AUDIT))
    result = {
        "tenant": {"id": tenant.id, "name": tenant.name, "users": emails},
        "effective": overrides.effective_snapshot(ent, ovr),
        "stripe_recorded": audit.snapshot(ent),
        "warnings": overrides.disagreements(ent, ovr.plan, ovr.subscription_status) if ovr else [],
        "stripe_now": None,
        "usage": {"year_month": counts.year_month, "tx_posted": counts.tx_posted, "tx_cap": tier.tx_cap,
                  "tx_analyzed": counts.tx_analyzed,
                  "today": {"day": counts.day.isoformat(), "tx_analyzed": counts.day_analyzed,
                            "limit": None if tier.paid else FREE_DAILY_ANALYZE_LIMIT}},
        "companies": {"count": int(companies or 0), "allowed": services.company_allowance(tenant.id)},
        "events": [event_json(r) for r in events],
        "audit": [audit_json(r) for r in audits],
    }
    customer_id, subscription_id = ent.stripe_customer_id, ent.stripe_subscription_id
    db.session.rollback()  # nothing above writes; end the read transaction before the network call
    result["stripe_now"] = _stripe_now(customer_id, subscription_id, offline)
    return result


# --- changing ------------------------------------------------------------------------------------------------

def parse_until(until: str | None, days: int | None) -> datetime | None:
    """`--until DATE` (a date is 00:00 UTC that day) or `--days N` from now; not both."""
    if until and days is not None:
        raise ValidationError("Give --until or --days, not both.", {"until": "or --days"})
    if days is not None:
        if not 1 <= days <= overrides.MAX_DAYS:
            raise ValidationError(f"--days must be between 1 and {overrides.MAX_DAYS}.", {"days": "out of range"})
        return (clock.now() + timedelta(days=days)).replace(microsecond=0)
    if not until:
        return None
    return parse_moment(until, "until", "is not a date like 2025-12-31 or 2025-12-31T18:00.")


def set_entitlement(ref: str, plan: str, status: str, until: str | None, days: int | None, *, actor: str,
                    reason: str | None, dry_run: bool = False) -> dict[str, Any]:
    """Start a manual override for the tenant (limits from the plan table), audited."""
    tenant = find_tenant(ref)
    moment = parse_until(until, days)
    change = overrides.set_override(tenant.id, plan, status, moment, actor=actor, reason=reason, dry_run=dry_run)
    return change.as_json()


def clear_override(ref: str, *, actor: str, reason: str | None, dry_run: bool = False) -> dict[str, Any]:
    """End the tenant's override now, audited (action 'nothing_to_clear' when it has none)."""
    tenant = find_tenant(ref)
    return overrides.clear_override(tenant.id, actor=actor, reason=reason, dry_run=dry_run).as_json()


def reactivate(ref: str, *, actor: str, reason: str, days: int | None = None, dry_run: bool = False
               ) -> dict[str, Any]:
    """The runbook's manual reactivation as an override (next paid invoice or `days`, default 7)."""
    tenant = find_tenant(ref)
    return overrides.reactivate(tenant.id, actor=actor, reason=reason, days=days, dry_run=dry_run).as_json()


def reset_usage(ref: str, month: str | None = None, posted: bool = False, analyzed: bool = False,
                today: bool = False, *, actor: str, reason: str | None, dry_run: bool = False) -> dict[str, Any]:
    """Zero a tenant's counters (default: the current month's posted and analysed), one UPDATE each, audited."""
    tenant = find_tenant(ref)
    year_month = rollover.check_month(month)
    why = overrides.require_reason(reason)
    if not (posted or analyzed or today):
        posted = analyzed = True
    now = clock.now()
    day = usage.utc_day(now)
    month_stmt = select(UsageMonthly.tx_posted, UsageMonthly.tx_analyzed).where(
        UsageMonthly.tenant_id == tenant.id, UsageMonthly.year_month == year_month)
    day_stmt = select(UsageDaily.tx_analyzed).where(UsageDaily.tenant_id == tenant.id, UsageDaily.day == day)
    if not dry_run:  # hold the rows until the reset commits (PostgreSQL; SQLite serialises writers anyway)
        month_stmt, day_stmt = month_stmt.with_for_update(), day_stmt.with_for_update()
    monthly = db.session.execute(month_stmt).first()
    daily = db.session.scalar(day_stmt) if today else None
    before: dict[str, Any] = {}
    if posted or analyzed:
        before.update(tx_posted=monthly.tx_posted if monthly else 0, tx_analyzed=monthly.tx_analyzed if monthly else 0)
    if today:
        before["today_analyzed"] = daily or 0
    after = {k: (0 if _selected(k, posted, analyzed, today) else v) for k, v in before.items()}
    result = {"tenant_id": tenant.id, "year_month": year_month, "day": day.isoformat(), "dry_run": dry_run,
              "before": before, "after": after, "changed": before != after}
    if dry_run or before == after:
        db.session.rollback()
        return result
    columns = {c: 0 for c in ("tx_posted", "tx_analyzed") if _selected(c, posted, analyzed, today)}
    if columns and monthly is not None:
        db.session.execute(update(UsageMonthly)
                           .where(UsageMonthly.tenant_id == tenant.id, UsageMonthly.year_month == year_month)
                           .values(**columns, last_reset_at=now).execution_options(synchronize_session=False))
    if today and daily:
        db.session.execute(update(UsageDaily).where(UsageDaily.tenant_id == tenant.id, UsageDaily.day == day)
                           .values(tx_analyzed=0).execution_options(synchronize_session=False))
    audit.write(tenant.id, "usage_reset", actor, {"year_month": year_month, "day": day.isoformat(), **before},
                {"year_month": year_month, "day": day.isoformat(), **after}, why)
    db.session.commit()
    log.info("usage.reset", extra={"tenant_id": tenant.id, "year_month": year_month, "before": before,
                                   "actor": actor})
    return result


def _selected(counter: str, posted: bool, analyzed: bool, today: bool) -> bool:
    return {"tx_posted": posted, "tx_analyzed": analyzed, "today_analyzed": today}[counter]
