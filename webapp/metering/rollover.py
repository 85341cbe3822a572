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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy import insert as sa_insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from webapp import clock
from webapp.billing.services import paid_plan_clause
from webapp.errors import ValidationError
from webapp.extensions import db
from webapp.models import Entitlement, RolloverFailure, RolloverRun, Tenant, UsageMonthly

log = logging.getLogger(__name__)

MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
STREAM_ROWS = 1000  # rows fetched at a time when listing tenants


# Every tenant's zeroed row for the month, one set-based statement with two parameters, as prebuilt text:
# SQLAlchemy compiles its dialect INSERT … ON CONFLICT constructs afresh on every call (they are never
# cached), which cost a 10,000-tenant rollover 2 ms on top of the statement itself. The same SQL on SQLite
# and PostgreSQL; `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT.
# preserve_rowcount: SQLAlchemy closes an INSERT's cursor at once, and psycopg's count goes with it.
_ZEROED_ROWS = (text("INSERT INTO usage_monthly (tenant_id, year_month, tx_analyzed, tx_posted, last_reset_at) "
                     "SELECT id, :month, 0, 0, :now FROM tenants WHERE true "
                     "ON CONFLICT (tenant_id, year_month) DO NOTHING")
                .bindparams(bindparam("now", type_=UsageMonthly.last_reset_at.type))
                .execution_options(preserve_rowcount=True))

# The month's run record, if any: a plain row (no ORM identity map or instance), since the usual call
# (cron after the scheduler, every later tick) ends right here and should cost next to nothing.
_RUN = (select(RolloverRun.year_month, RolloverRun.trigger, RolloverRun.started_at, RolloverRun.finished_at)
        .where(RolloverRun.year_month == bindparam("month")))

# Up to this many tenants the report names each one; above it, counts (`--verbose` names them all).
LISTED_TENANTS = 50


@dataclass(frozen=True)
class RolloverResult:
    """What a rollover did, as counts: tenants with a row for the month, rows it created, rows it kept."""

    year_month: str
    already_done: bool = False
    done_at: str | None = None
    done_by: str | None = None
    started_at: datetime | None = None  # the rows this run created carry it as last_reset_at
    tenants: int = 0
    reset: int = 0
    kept: int = 0
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

    The same few statements whatever the number of tenants, with a fixed handful of parameters: the
    guard row, the set-based INSERT ... SELECT ... ON CONFLICT DO NOTHING (its row count is the rows
    created), a COUNT of the tenants (each has a row for the month afterwards, so the difference is
    the rows kept), a COUNT of the paying ones and the run's record, in one transaction.

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
    done = db.session.execute(_RUN, {"month": month}).first()  # the usual repeat: one read, no write
    if done is not None:
        return _already_done(done, trigger)
    try:  # the guard: rollover_runs is unique per month, so one process gets past this line per month
        db.session.execute(sa_insert(RolloverRun).values(year_month=month, started_at=now, trigger=trigger))
    except IntegrityError:  # another process got there between the read and this insert
        db.session.rollback()
        return _already_done(db.session.execute(_RUN, {"month": month}).first(), trigger, month)
    created = db.session.execute(_ZEROED_ROWS, {"month": month, "now": now}).rowcount
    # Counting tenants, not the month's rows: usage_monthly keeps every month, so a count there would
    # scan the history. A tenant signing up during the run (PostgreSQL) may show as kept: a report only.
    tenants = max(created, db.session.scalar(select(func.count()).select_from(Tenant)) or 0)
    active = int(db.session.scalar(select(func.count()).select_from(Entitlement).where(paid_plan_clause())) or 0)
    db.session.execute(update(RolloverRun).where(RolloverRun.year_month == month)
                       .values(finished_at=clock.now(), tenants=tenants, rows_created=created))
    db.session.commit()
    log.info("rollover.completed", extra={"year_month": month, "trigger": trigger, "tenants": tenants,
                                          "rows_created": created})
    return RolloverResult(month, started_at=now, tenants=tenants, reset=created, kept=tenants - created,
                          active=active)


def _already_done(done: Row | None, trigger: str, month: str | None = None) -> RolloverResult:
    """The answer for a month some process already rolled over (`done` is its record)."""
    month = done.year_month if done is not None else str(month)
    log.info("rollover.already_done", extra={"year_month": month, "trigger": trigger})
    result = RolloverResult(month, already_done=True, done_by=done.trigger if done else None,
                            done_at=clock.isoformat(done.finished_at or done.started_at) if done else None)
    db.session.commit()  # end the read
    return result


def report(result: RolloverResult, verbose: bool = False) -> Iterator[str]:
    """The runbook's lines for a rollover: one per tenant up to LISTED_TENANTS (or with verbose), else counts.

    The per-tenant lines are read from the month's rows as they stream, so even a verbose report of
    millions of tenants never holds them in memory.
    """
    if result.already_done:
        yield (f"Monthly usage rollover for {result.year_month} was already done"
               f" ({result.done_by}, {result.done_at}): nothing to do.")
        return
    yield f"Starting monthly usage rollover for {result.year_month}..."
    others = result.tenants - result.active
    found = f"Found {result.active} active tenants"  # the runbook's line; "active" means paying, as in the gate
    yield found + (f" and {others} on the free tier or not paying" if others else "")
    if verbose or result.tenants <= LISTED_TENANTS:
        yield from _tenant_lines(result)
    else:
        yield f"  Reset usage for {result.reset} tenants"
        yield f"  Kept usage for {result.kept} tenants: already counting this month"
        yield "  (one line per tenant: --verbose)"
    yield f"✓ Monthly usage rollover completed for {result.year_month}"
    yield f"  Processed {result.tenants} tenants"


def _tenant_lines(result: RolloverResult) -> Iterator[str]:
    """A line per tenant: those this run reset (their row carries its start time), then those it kept."""
    month = UsageMonthly.year_month == result.year_month
    created = UsageMonthly.last_reset_at == result.started_at
    reset = select(UsageMonthly.tenant_id).where(month, created).order_by(UsageMonthly.tenant_id)
    for tenant_id in db.session.scalars(reset.execution_options(yield_per=STREAM_ROWS)):
        yield f"  Reset usage for tenant {tenant_id}"
    kept = (select(UsageMonthly.tenant_id, UsageMonthly.tx_posted, UsageMonthly.tx_analyzed)
            .where(month, or_(UsageMonthly.last_reset_at.is_(None), ~created)).order_by(UsageMonthly.tenant_id))
    for row in db.session.execute(kept.execution_options(yield_per=STREAM_ROWS)):
        yield (f"  Kept usage for tenant {row.tenant_id}: already counting this month"
               f" ({row.tx_posted} posted, {row.tx_analyzed} analysed)")
    db.session.commit()  # end the read transaction the listing opened


def months_done() -> int:
    """How many months have been rolled over (for monitoring)."""
    return int(db.session.scalar(select(func.count()).select_from(RolloverRun)) or 0)
