"""The runbook's three alerts: evaluated by the hourly job and `flask ops alerts`, their state kept in `alert_states`.

A transition (starts firing, clears) is one conditional UPDATE on the alert's row: exactly one process
makes it, and only that process logs it (ERROR when it starts, INFO when it clears), however many
workers, schedulers and cron jobs evaluate at the same moment.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, select, update

from webapp import clock
from webapp.extensions import db, insert_ignoring_conflict
from webapp.models import AlertState, BillingEvent, RolloverFailure, RolloverRun
from webapp.ops import days, reports

log = logging.getLogger(__name__)

WEBHOOK_FAILURE_RATE = "webhook_failure_rate"
FAILED_PAYMENTS = "failed_payments"
ROLLOVER = "monthly_rollover"
TITLES = {WEBHOOK_FAILURE_RATE: "Webhook failure rate", FAILED_PAYMENTS: "Failed payments per day",
          ROLLOVER: "Monthly rollover"}
# What the runbook says to do, shown with each firing alert (docs/RUNBOOK.md, "Monitoring & Alerts").
RUNBOOK_STEPS = {
    WEBHOOK_FAILURE_RATE: "Check the Stripe Dashboard's webhook deliveries for errors, verify STRIPE_WEBHOOK_SECRET, "
                          "read the events' last errors (/admin or flask ops report) and logs/app.log, fix the "
                          "cause, then flask billing replay --failed.",
    FAILED_PAYMENTS: "Review the Stripe Dashboard (Payments → failed) for a pattern (one card brand, one country, a "
                     "bank outage); consider a customer notice. Affected tenants are on the free tier until paid.",
    ROLLOVER: "Check the cron job's log (logs/rollover.log) and the scheduler's lines in logs/app.log, check that the "
              "database answers (/healthz), then run flask usage rollover (safe to run again).",
}
WEBHOOK_WINDOW = timedelta(hours=24)
ROLLOVER_DEADLINE = timedelta(hours=1)  # the rollover runs at 00:00 UTC on the 1st; 01:00 is late


@dataclass(frozen=True)
class Thresholds:
    """When the alerts fire (config: ALERT_WEBHOOK_FAILURE_PCT, ALERT_WEBHOOK_MIN_EVENTS, ALERT_FAILED_PAYMENTS)."""

    webhook_failure_pct: float = 5.0
    webhook_min_events: int = 20
    failed_payments_per_day: int = 10

    @classmethod
    def from_config(cls) -> Thresholds:
        """The thresholds the running app is configured with."""
        cfg = current_app.config
        return cls(float(cfg.get("ALERT_WEBHOOK_FAILURE_PCT", cls.webhook_failure_pct)),
                   int(cfg.get("ALERT_WEBHOOK_MIN_EVENTS", cls.webhook_min_events)),
                   int(cfg.get("ALERT_FAILED_PAYMENTS", cls.failed_payments_per_day)))


@dataclass(frozen=True)
class Check:
    """One alert's verdict now: firing or not, the figure behind it, and the runbook step."""

    name: str
    firing: bool
    figure: str

    @property
    def title(self) -> str:
        """The alert's human name."""
        return TITLES[self.name]

    @property
    def runbook(self) -> str:
        """What to do when it fires."""
        return RUNBOOK_STEPS[self.name]


def check_webhooks(now: datetime, limits: Thresholds) -> Check:
    """Fires when more than the threshold share of the last 24 h's events failed, with enough events to judge."""
    total, failed = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((BillingEvent.outcome == "failed", 1), else_=0)), 0))
        .where(BillingEvent.created_at >= now - WEBHOOK_WINDOW)).one()
    total, failed = int(total), int(failed)
    rate = 100.0 * failed / total if total else 0.0
    firing = total >= limits.webhook_min_events and rate > limits.webhook_failure_pct
    figure = (f"{failed} of {total} webhook events of the last 24 h failed ({rate:.1f} %; fires above "
              f"{limits.webhook_failure_pct:g} % with at least {limits.webhook_min_events} events)")
    return Check(WEBHOOK_FAILURE_RATE, firing, figure)


def check_payments(now: datetime, limits: Thresholds) -> Check:
    """Fires when today or yesterday (UTC) had more failed payments than the threshold.

    Yesterday counts too, so failures in a day's last hour are never missed by an hourly check; the
    alert clears at the end of the day after the spike.
    """
    recent = reports.failed_payments(2, now)
    worst = max(recent, key=lambda d: (d.count, d.day))
    firing = worst.count > limits.failed_payments_per_day
    which = "today" if worst.day == recent[-1].day else "yesterday"
    figure = (f"{worst.count} failed payments on {worst.day.isoformat()} ({which}, UTC; fires above "
              f"{limits.failed_payments_per_day} a day)")
    return Check(FAILED_PAYMENTS, firing, figure)


def check_rollover(now: datetime) -> Check:
    """Fires when the current month has no completed rollover by 01:00 UTC on the 1st, or a run failed
    for a month that has no completed run since."""
    month = clock.year_month(now)
    done = db.session.get(RolloverRun, month)
    failures = list(db.session.execute(
        select(RolloverFailure.year_month, func.max(RolloverFailure.failed_at))
        .where(RolloverFailure.year_month.not_in(select(RolloverRun.year_month)))
        .group_by(RolloverFailure.year_month).order_by(RolloverFailure.year_month)).all())
    deadline = datetime(now.year, now.month, 1, tzinfo=UTC) + ROLLOVER_DEADLINE
    parts = []
    if failures:
        parts.append("failed runs not yet redone: " + ", ".join(
            f"{m} (last failure {days.to_the_second(days.as_utc(at))})" for m, at in failures))
    if done is None and now >= deadline:
        parts.append(f"no completed rollover for {month} (due by {clock.isoformat(deadline)})")
    if parts:
        return Check(ROLLOVER, True, "; ".join(parts))
    if done is None:
        return Check(ROLLOVER, False, f"rollover for {month} not done yet, due by {clock.isoformat(deadline)}")
    finished = days.to_the_second(done.finished_at or done.started_at)
    return Check(ROLLOVER, False, f"{month} rolled over at {finished} ({done.trigger})")


@dataclass(frozen=True)
class Evaluation:
    """The verdicts of one evaluation, and which alerts this process saw start or stop firing."""

    checks: list[Check]
    started: list[str]
    cleared: list[str]

    @property
    def firing(self) -> list[Check]:
        """The alerts that fire now."""
        return [c for c in self.checks if c.firing]


def evaluate(now: datetime | None = None) -> Evaluation:
    """Check the three alerts, record their state, and log each transition once (ERROR on, INFO off)."""
    moment = now or clock.now()
    limits = Thresholds.from_config()
    checks = [check_webhooks(moment, limits), check_payments(moment, limits), check_rollover(moment)]
    _ensure_rows()
    started, cleared = [], []
    for check in checks:
        flipped = db.session.execute(
            update(AlertState).where(AlertState.name == check.name, AlertState.firing != check.firing)
            .values(firing=check.firing, since=moment if check.firing else None, changed_at=moment,
                    figure=check.figure[:500], evaluated_at=moment)
            .execution_options(synchronize_session=False)).rowcount == 1
        if not flipped:
            db.session.execute(update(AlertState).where(AlertState.name == check.name)
                               .values(figure=check.figure[:500], evaluated_at=moment)
                               .execution_options(synchronize_session=False))
        db.session.commit()  # one alert per transaction: a flip is decided and kept before the next
        if flipped:
            (started if check.firing else cleared).append(check.name)
    for check in checks:
        if check.name in started:
            log.error("alert.firing", extra={"alert": check.name, "figure": check.figure, "runbook": check.runbook})
        elif check.name in cleared:
            log.info("alert.cleared", extra={"alert": check.name, "figure": check.figure})
    return Evaluation(checks, started, cleared)


def _ensure_rows() -> None:
    """Create the alerts' rows once (INSERT ... ON CONFLICT DO NOTHING), so every transition is an UPDATE."""
    db.session.execute(insert_ignoring_conflict(AlertState, ["name"],
                                                [{"name": n, "firing": False, "figure": ""} for n in TITLES]))
    db.session.commit()


@dataclass(frozen=True)
class AlertView:
    """An alert as the admin page and the header show it."""

    name: str
    title: str
    firing: bool
    since: datetime | None
    figure: str
    evaluated_at: datetime | None
    runbook: str


def current_states() -> list[AlertView]:
    """The stored state of each alert (never evaluated: not firing, no evaluation time)."""
    rows = {s.name: s for s in db.session.scalars(select(AlertState))}
    out = []
    for name, title in TITLES.items():
        s = rows.get(name)
        out.append(AlertView(name, title, bool(s and s.firing), s.since if s else None, s.figure if s else "",
                             s.evaluated_at if s else None, RUNBOOK_STEPS[name]))
    return out


def firing_titles() -> list[str]:
    """The titles of the alerts that fire, by their stored state (one small query, for the header)."""
    names = db.session.scalars(select(AlertState.name).where(AlertState.firing.is_(True)).order_by(AlertState.name))
    return [TITLES.get(n, n) for n in names]
