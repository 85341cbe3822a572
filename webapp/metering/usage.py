"""Usage counters: each change is one conditional UPDATE (never read-add-write); rows appear on first use."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Update, bindparam, select, update

from webapp import clock
from webapp.extensions import db, execute_core, insert_ignoring_conflict
from webapp.models import UsageDaily, UsageMonthly


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of `moment`."""
    return moment.astimezone(UTC).date()


def _insert_ignoring_conflict(model: type[UsageMonthly] | type[UsageDaily], **row: object) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on either dialect: creates the counter row once, races included."""
    keys = [c.name for c in model.__table__.primary_key.columns]
    db.session.execute(insert_ignoring_conflict(model, keys, row))


def _ensure_month(tenant_id: str, month: str) -> None:
    _insert_ignoring_conflict(UsageMonthly, tenant_id=tenant_id, year_month=month, tx_analyzed=0, tx_posted=0,
                              last_reset_at=clock.now())


def _ensure_day(tenant_id: str, day: date) -> None:
    _insert_ignoring_conflict(UsageDaily, tenant_id=tenant_id, day=day, tx_analyzed=0)


def _apply(stmt: Update, params: dict[str, object], ensure_row: Callable[[], None]) -> bool:
    """Run a conditional UPDATE; if no row matched, create the row (if missing) and run it once more.

    The common case is one statement; the row is only inserted the first time in a period. The second
    UPDATE, not any read, decides: the row now exists, so 0 rows means the condition (the cap) failed.
    """
    if execute_core(stmt, params).rowcount == 1:
        return True
    ensure_row()
    return bool(execute_core(stmt, params).rowcount == 1)


# The counter statements, built once (each request runs one): parameters tenant, period, n and cap.
# (A bindparam may not share an updated column's name.) They are Core statements on the tables, not
# ORM-enabled UPDATEs: the same SQL, without the ORM's per-execution setup (a quarter of the cost),
# and nothing in the session to synchronise — the counters are never loaded as objects on these paths.
_MONTHLY, _DAILY = UsageMonthly.__table__.c, UsageDaily.__table__.c
_TAKE_POSTED = (update(UsageMonthly.__table__)
                .where(_MONTHLY.tenant_id == bindparam("tenant"), _MONTHLY.year_month == bindparam("period"),
                       _MONTHLY.tx_posted + bindparam("n") <= bindparam("cap"))
                .values(tx_posted=_MONTHLY.tx_posted + bindparam("n")))
_TAKE_DAILY_ANALYZED = (update(UsageDaily.__table__)
                        .where(_DAILY.tenant_id == bindparam("tenant"), _DAILY.day == bindparam("period"),
                               _DAILY.tx_analyzed + bindparam("n") <= bindparam("cap"))
                        .values(tx_analyzed=_DAILY.tx_analyzed + bindparam("n")))
_COUNT_ANALYZED = (update(UsageMonthly.__table__)
                   .where(_MONTHLY.tenant_id == bindparam("tenant"), _MONTHLY.year_month == bindparam("period"))
                   .values(tx_analyzed=_MONTHLY.tx_analyzed + bindparam("n")))


def take_posted(tenant_id: str, n: int, cap: int, moment: datetime) -> bool:
    """Count n postings in the month of `moment` if tx_posted + n <= cap; False (nothing counted) otherwise."""
    if n > cap:  # can never fit: answer without touching the database
        return False
    month = clock.year_month(moment)
    params = {"tenant": tenant_id, "period": month, "n": n, "cap": cap}
    return _apply(_TAKE_POSTED, params, lambda: _ensure_month(tenant_id, month))


def take_daily_analyzed(tenant_id: str, n: int, limit: int, moment: datetime) -> bool:
    """Count n analysed transactions on the UTC day of `moment` if the day stays within `limit`."""
    if n > limit:
        return False
    day = utc_day(moment)
    params = {"tenant": tenant_id, "period": day, "n": n, "cap": limit}
    return _apply(_TAKE_DAILY_ANALYZED, params, lambda: _ensure_day(tenant_id, day))


def count_analyzed(tenant_id: str, n: int, moment: datetime) -> None:
    """Count n analysed transactions in the month of `moment` (no cap: paid plans analyse freely)."""
    month = clock.year_month(moment)
    _apply(_COUNT_ANALYZED, {"tenant": tenant_id, "period": month, "n": n}, lambda: _ensure_month(tenant_id, month))


@dataclass(frozen=True)
class Counts:
    """The counters of one month and one day (zeros where no row exists yet)."""

    year_month: str
    tx_analyzed: int
    tx_posted: int
    day: date
    day_analyzed: int


def read_counts(tenant_id: str, moment: datetime) -> Counts:
    """Read the month's and the day's counters without creating rows (reads never write)."""
    month, day = clock.year_month(moment), utc_day(moment)
    monthly = db.session.execute(select(UsageMonthly.tx_analyzed, UsageMonthly.tx_posted).where(
        UsageMonthly.tenant_id == tenant_id, UsageMonthly.year_month == month)).first()
    daily = db.session.scalar(select(UsageDaily.tx_analyzed).where(
        UsageDaily.tenant_id == tenant_id, UsageDaily.day == day))
    analyzed, posted = monthly if monthly is not None else (0, 0)
    return Counts(month, analyzed, posted, day, daily or 0)
