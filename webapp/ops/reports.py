"""The operations report: the runbook's monitoring views, in SQLAlchemy so one code runs on SQLite and PostgreSQL.

Every view is one grouped statement (nothing per tenant in Python); days are UTC days, computed in the
database by `utc_date` so the session's time zone never moves an event to another day.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, Text, and_, case, cast, func, literal, null, select, union_all

from webapp import clock
from webapp.billing import audit as billing_audit
from webapp.billing import events
from webapp.billing.plans import PLANS
from webapp.billing.subscriptions import ENDED_STATUSES
from webapp.errors import ValidationError
from webapp.extensions import db
from webapp.models import (BillingAudit, BillingEvent, Entitlement, OpsAudit, RolloverFailure, RolloverRun,
                           UsageMonthly)
from webapp.ops.days import as_utc, day_start, last_days, last_months, utc_date

WEBHOOK_DAYS = 7
PAYMENT_DAYS = 14
USAGE_MONTHS = 3
MAX_DAYS = 366
ATTENTION_LIMIT = 50
ROLLOVER_LIMIT = 12
AUDIT_LIMIT = 50
PAYMENT_FAILED = "invoice.payment_failed"


@dataclass
class WebhookDay:
    """Webhook events first received on one UTC day, by where they stand now."""

    day: date
    total: int = 0
    processed: int = 0
    failed: int = 0
    pending: int = 0

    @property
    def rate(self) -> float | None:
        """Processed share in percent (None on a day without events)."""
        return round(100.0 * self.processed / self.total, 2) if self.total else None


def webhook_success(days: int = WEBHOOK_DAYS, now: datetime | None = None) -> list[WebhookDay]:
    """Each of the last `days` UTC days (oldest first, empty days included): total, processed, failed, pending."""
    window = last_days(days, now or clock.now())
    day = utc_date(BillingEvent.created_at)
    rows = db.session.execute(
        select(day.label("day"), func.count(),
               func.sum(case((BillingEvent.processed.is_(True), 1), else_=0)),
               func.sum(case((and_(BillingEvent.processed.is_(False), BillingEvent.outcome == "failed"), 1), else_=0)))
        .where(BillingEvent.created_at >= day_start(window[0]))
        .group_by(day)).all()
    found = {r[0]: r for r in rows}
    out = []
    for d in window:
        r = found.get(d)
        total, processed, failed = (int(r[1]), int(r[2] or 0), int(r[3] or 0)) if r else (0, 0, 0)
        out.append(WebhookDay(d, total, processed, failed, total - processed - failed))
    return out


@dataclass
class SubscriptionRow:
    """Live subscriptions (not canceled) of one plan and status; `entitled` of them get the plan now."""

    plan: str
    status: str
    tenants: int
    entitled: int


def subscriptions() -> list[SubscriptionRow]:
    """Subscriptions by plan and status, leaving out tenants that never subscribed and ended subscriptions."""
    rows = db.session.execute(
        select(Entitlement.plan, Entitlement.subscription_status, func.count(),
               func.sum(case((Entitlement.active.is_(True), 1), else_=0)))
        .where(Entitlement.subscription_status.not_in(("none", *ENDED_STATUSES)))
        .group_by(Entitlement.plan, Entitlement.subscription_status)).all()
    out = [SubscriptionRow(plan, status, int(n), int(entitled or 0)) for plan, status, n, entitled in rows]
    return sorted(out, key=lambda r: (_plan_order(r.plan), r.status))


def _plan_order(plan: str) -> int:
    keys = list(PLANS)
    return keys.index(plan) if plan in keys else len(keys)


@dataclass
class UsageRow:
    """One plan in one month: tenants with a usage row, average and largest posted, how many are at their cap."""

    year_month: str
    plan: str
    tenants: int
    avg_posted: float
    max_posted: int
    at_cap: int
    cap: int


def usage_by_plan(months: int = USAGE_MONTHS, now: datetime | None = None) -> list[UsageRow]:
    """Usage of the last `months` months by (current) plan, of tenants whose cap is above 0 (the free tier, cap 0,
    posts nothing and would always look "at cap")."""
    window = last_months(months, now or clock.now())
    at_cap = case((and_(Entitlement.tx_cap > 0, UsageMonthly.tx_posted >= Entitlement.tx_cap), 1), else_=0)
    rows = db.session.execute(
        select(UsageMonthly.year_month, Entitlement.plan, func.count(), func.avg(UsageMonthly.tx_posted),
               func.max(UsageMonthly.tx_posted), func.sum(at_cap))
        .join(Entitlement, Entitlement.tenant_id == UsageMonthly.tenant_id)
        .where(UsageMonthly.year_month.in_(window), Entitlement.tx_cap > 0)
        .group_by(UsageMonthly.year_month, Entitlement.plan)).all()
    out = [UsageRow(month, plan, int(n), round(float(avg or 0), 1), int(top or 0), int(capped or 0),
                    PLANS[plan].tx_cap if plan in PLANS else 0)
           for month, plan, n, avg, top, capped in rows]
    return sorted(out, key=lambda r: (r.year_month, _plan_order(r.plan)))


@dataclass
class DayCount:
    """A count for one UTC day."""

    day: date
    count: int


def failed_payments(days: int = PAYMENT_DAYS, now: datetime | None = None) -> list[DayCount]:
    """`invoice.payment_failed` events per UTC day (by Stripe's time of the failure), oldest first."""
    window = last_days(days, now or clock.now())
    day = utc_date(BillingEvent.stripe_created)
    since = day_start(window[0])
    # We receive an event after Stripe creates it, so created_at bounds the rows too (a day's margin for
    # clocks that disagree): the created_at index then reads the window's events, not the whole table.
    rows = db.session.execute(
        select(day, func.count()).where(BillingEvent.type == PAYMENT_FAILED, BillingEvent.stripe_created >= since,
                                        BillingEvent.created_at >= since - timedelta(days=1))
        .group_by(day)).all()
    found = {d: int(n) for d, n in rows}
    return [DayCount(d, found.get(d, 0)) for d in window]


@dataclass
class EventRow:
    """A webhook event that is not processed: failed, or pending (in progress, or stopped mid-way)."""

    event_id: str
    type: str
    created_at: datetime
    attempts: int
    outcome: str
    tenant_id: str | None
    last_error: str | None
    replayable: bool


@dataclass
class Attention:
    """The oldest unprocessed events and how many there are in all."""

    total: int
    events: list[EventRow] = field(default_factory=list)


def events_needing_attention(limit: int = ATTENTION_LIMIT, now: datetime | None = None) -> Attention:
    """Unprocessed events, oldest first, with their last error; `replayable` unless another worker holds it."""
    moment = now or clock.now()
    replayable = case((events.needs_replay_clause(moment), True), else_=False)
    rows = db.session.execute(
        select(BillingEvent, replayable).where(BillingEvent.processed.is_(False))
        .order_by(BillingEvent.created_at, BillingEvent.id).limit(limit)).all()
    found = [EventRow(e.event_id, e.type, e.created_at, e.attempts, e.outcome, e.tenant_id, e.last_error, bool(ok))
             for e, ok in rows]
    return Attention(unprocessed_count(), found)


def unprocessed_count() -> int:
    """How many stored webhook events are not processed (failed or pending)."""
    return int(db.session.scalar(select(func.count()).select_from(BillingEvent)
                                 .where(BillingEvent.processed.is_(False))) or 0)


@dataclass
class RolloverRow:
    """A rollover run: completed (one per month) or failed (rolled back, kept for the alert)."""

    year_month: str
    at: datetime
    outcome: str
    trigger: str
    tenants: int | None
    rows_created: int | None
    error: str | None


def rollover_runs(limit: int = ROLLOVER_LIMIT) -> list[RolloverRow]:
    """The most recent rollover runs, completed and failed, newest first."""
    done = select(RolloverRun.year_month.label("year_month"),
                  func.coalesce(RolloverRun.finished_at, RolloverRun.started_at).label("at"),
                  literal("completed", String).label("outcome"), RolloverRun.trigger.label("trigger"),
                  RolloverRun.tenants.label("tenants"), RolloverRun.rows_created.label("rows_created"),
                  cast(null(), Text).label("error"))
    failed = select(RolloverFailure.year_month, RolloverFailure.failed_at, literal("failed", String),
                    RolloverFailure.trigger, cast(null(), Integer), cast(null(), Integer), RolloverFailure.error)
    both = union_all(done, failed).subquery()
    rows = db.session.execute(select(both).order_by(both.c.at.desc()).limit(limit)).all()
    return [RolloverRow(r.year_month, as_utc(r.at), r.outcome, r.trigger, r.tenants, r.rows_created, r.error)
            for r in rows]


@dataclass
class AuditRow:
    """One audit row: an entitlement change (billing) or an operator action (ops), summarised."""

    created_at: datetime
    source: str
    action: str
    actor: str
    tenant_id: str | None
    subject: str | None
    summary: str


def recent_audit(limit: int = AUDIT_LIMIT) -> list[AuditRow]:
    """The newest audit rows of both trails, newest first."""
    billing = select(BillingAudit.created_at.label("created_at"), literal("billing", String).label("source"),
                     BillingAudit.action.label("action"), BillingAudit.actor.label("actor"),
                     BillingAudit.tenant_id.label("tenant_id"), BillingAudit.event_id.label("subject"),
                     BillingAudit.before_json.label("before"), BillingAudit.after_json.label("after"))
    ops = select(OpsAudit.created_at, literal("ops", String), OpsAudit.action, OpsAudit.actor, OpsAudit.tenant_id,
                 OpsAudit.subject, cast(null(), Text), OpsAudit.detail_json)
    both = union_all(billing, ops).subquery()
    rows = db.session.execute(select(both).order_by(both.c.created_at.desc()).limit(limit)).all()
    return [AuditRow(as_utc(r.created_at), r.source, r.action, r.actor, r.tenant_id, r.subject,
                     _summary(r.source, r.before, r.after)) for r in rows]


def _summary(source: str, before: str | None, after: str | None) -> str:
    """What changed, in one line: the fields of an entitlement change, or an ops action's details."""
    if source == "billing":
        changes = billing_audit.diff(json.loads(before or "{}"), json.loads(after or "{}"))
        return ", ".join(f"{k} {b!r} → {a!r}" for k, (b, a) in sorted(changes.items())) or "no change"
    detail = json.loads(after or "{}")
    return ", ".join(f"{k}={v}" for k, v in detail.items())


@dataclass
class OpsReport:
    """Everything `flask ops report` prints and /admin shows."""

    generated_at: datetime
    webhook_days: int
    payment_days: int
    webhooks: list[WebhookDay]
    subscriptions: list[SubscriptionRow]
    usage: list[UsageRow]
    failed_payments: list[DayCount]
    attention: Attention
    rollovers: list[RolloverRow]
    audit: list[AuditRow]


def check_days(days: int | None) -> int | None:
    """A --days value: None (each view's default) or 1..366."""
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise ValidationError(f"--days must be between 1 and {MAX_DAYS}.", {"days": f"1..{MAX_DAYS}"})
    return days


def build_report(days: int | None = None) -> OpsReport:
    """The whole report; `days` replaces both day windows (7 for webhooks, 14 for failed payments)."""
    days = check_days(days)
    now = clock.now()
    webhook_days, payment_days = days or WEBHOOK_DAYS, days or PAYMENT_DAYS
    return OpsReport(now, webhook_days, payment_days, webhook_success(webhook_days, now), subscriptions(),
                     usage_by_plan(USAGE_MONTHS, now), failed_payments(payment_days, now),
                     events_needing_attention(now=now), rollover_runs(), recent_audit())


def report_json(report: OpsReport) -> dict[str, Any]:
    """The report as JSON-ready data, with a stable shape: dates ISO 8601, times with 'Z'."""
    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return clock.isoformat(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {
        "generated_at": clock.isoformat(report.generated_at),
        "webhook_success": {"days": report.webhook_days,
                            "rows": [{**plain(asdict(d)), "rate": d.rate} for d in report.webhooks]},
        "subscriptions": [asdict(r) for r in report.subscriptions],
        "usage_by_plan": [asdict(r) for r in report.usage],
        "failed_payments": {"days": report.payment_days, "rows": [plain(asdict(r)) for r in report.failed_payments]},
        "events_needing_attention": plain(asdict(report.attention)),
        "rollover_runs": [plain(asdict(r)) for r in report.rollovers],
        "audit": [plain(asdict(r)) for r in report.audit],
    }
