"""The monthly usage rollover: every tenant starts the month at zero; idempotent and guarded.

Counters are kept per (tenant, year_month), so a new month needs no reset to be correct: the gate
creates the month's row on first use. The rollover makes that explicit and visible: it gives every
tenant a zeroed row for the month with `last_reset_at`, in one set-based statement, and records the
run in `rollover_runs` (unique per month) in the same transaction, so exactly one process rolls a
month over however many schedulers and cron jobs start it. Usage already counted in the month (a
commit at 00:00:01 before the job ran) is never zeroed: nothing is lost.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from sqlalchemy import func, literal, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import clock
from webapp.billing.services import paid_plan_clause
from webapp.errors import ValidationError
from webapp.extensions import db
from webapp.models import Entitlement, RolloverFailure, RolloverRun, Tenant, UsageMonthly

log = logging.getLogger(__name__)

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass
class RolloverResult:
    """What a rollover did: the month, the tenants found, whose rows it created and whose it kept."""

    year_month: str
    already_done: bool = False
    done_at: str | None = None
    done_by: str | None = None
    tenants: list[str] = field(default_factory=list)
    reset: list[str] = field(default_factory=list)
    kept: dict[str, tuple[int, int]] = field(default_factory=dict)
    active: int = 0  # tenants with a paid plan (active, status active or trialing)


def check_month(year_month: str | None) -> str:
    """The month to roll over: 'YYYY-MM', default the current UTC month; never a future month."""
    current = clock.year_month(clock.now())
    if year_month is None:
        return current
    if not MONTH_RE.match(year_month):
        raise ValidationError("The month must look like 2025-11.", {"month": "must be YYYY-MM"})
    if year_month > current:
        raise ValidationError(f"{year_month} has not started yet (it is {current}).",
                              {"month": "must not be in the future"})
    return year_month


def roll_usage_month(year_month: str | None = None, trigger: str = "manual") -> RolloverResult:
    """Roll usage over for a month (default: the current UTC month) unless that month is already done.

    A run that fails is rolled back and kept in `rollover_failures` (the rollover alert reads it), then re-raised.
    """
    month = check_month(year_month)
    try:
        return _roll(month, trigger)
    except Exception as exc:
        db.session.rollback()
        record_failure(month, trigger, exc)
        raise


def record_failure(month: str, trigger: str, exc: Exception) -> None:
    """Keep a failed run; if even that fails (the database is down), the missing-run alert still fires."""
    try:
        db.session.add(RolloverFailure(year_month=month, failed_at=clock.now(), trigger=trigger,
                                       error=f"{type(exc).__name__}: {exc}"[:2000]))
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("rollover.failure_not_recorded", extra={"year_month": month})


def _roll(month: str, trigger: str) -> RolloverResult:
    now = clock.now()
    run = RolloverRun(year_month=month, started_at=now, trigger=trigger)
    db.session.add(run)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        done = db.session.get(RolloverRun, month)
        log.info("rollover.already_done", extra={"year_month": month, "trigger": trigger})
        return RolloverResult(month, already_done=True, done_by=done.trigger if done else None,
                              done_at=clock.isoformat(done.finished_at or done.started_at) if done else None)
    tenants = list(db.session.scalars(select(Tenant.id).order_by(Tenant.id)))
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = select(Tenant.id, literal(month), literal(0), literal(0), literal(now, UsageMonthly.last_reset_at.type)
                  ).where(true())  # WHERE keeps SQLite from reading ON CONFLICT as part of the SELECT
    stmt = (insert(UsageMonthly)
            .from_select(["tenant_id", "year_month", "tx_analyzed", "tx_posted", "last_reset_at"], rows)
            .on_conflict_do_nothing(index_elements=["tenant_id", "year_month"])
            .returning(UsageMonthly.tenant_id))
    reset = sorted(db.session.scalars(stmt))
    kept_rows = db.session.execute(
        select(UsageMonthly.tenant_id, UsageMonthly.tx_posted, UsageMonthly.tx_analyzed)
        .where(UsageMonthly.year_month == month, UsageMonthly.tenant_id.not_in(reset or [""]))).all()
    active = int(db.session.scalar(select(func.count()).select_from(Entitlement).where(paid_plan_clause())) or 0)
    run.finished_at, run.tenants, run.rows_created = clock.now(), len(tenants), len(reset)
    db.session.commit()
    log.info("rollover.completed", extra={"year_month": month, "trigger": trigger, "tenants": len(tenants),
                                          "rows_created": len(reset)})
    return RolloverResult(month, tenants=tenants, reset=reset, active=active,
                          kept={r.tenant_id: (r.tx_posted, r.tx_analyzed) for r in kept_rows})


def report(result: RolloverResult) -> list[str]:
    """The lines the runbook shows for a rollover."""
    if result.already_done:
        return [f"Monthly usage rollover for {result.year_month} was already done"
                f" ({result.done_by}, {result.done_at}): nothing to do."]
    others = len(result.tenants) - result.active
    found = f"Found {result.active} active tenants"  # the runbook's line; "active" means paying, as in the gate
    if others:
        found += f" and {others} on the free tier or not paying"
    lines = [f"Starting monthly usage rollover for {result.year_month}...", found]
    lines += [f"  Reset usage for tenant {t}" for t in result.reset]
    lines += [f"  Kept usage for tenant {t}: already counting this month ({p} posted, {a} analysed)"
              for t, (p, a) in sorted(result.kept.items())]
    lines += [f"✓ Monthly usage rollover completed for {result.year_month}",
              f"  Processed {len(result.tenants)} tenants"]
    return lines


def months_done() -> int:
    """How many months have been rolled over (for monitoring)."""
    return int(db.session.scalar(select(func.count()).select_from(RolloverRun)) or 0)
