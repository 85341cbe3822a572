"""UTC days and months, in SQL (`utc_date`, the same on SQLite and PostgreSQL) and in Python."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class utc_date(FunctionElement[date]):  # noqa: N801  (an SQL function, named like one)
    """The UTC calendar day of a UTCDateTime column, as a DATE, on either dialect."""

    type = Date()
    name = "utc_date"
    inherit_cache = True


@compiles(utc_date)
def _utc_date_sqlite(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTCDateTime as naive UTC text, so its date() is already the UTC day.
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_date, "postgresql")
def _utc_date_postgresql(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC') AS DATE)"


def day_start(day: date) -> datetime:
    """00:00 UTC of a day."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def last_days(days: int, now: datetime) -> list[date]:
    """The last `days` UTC days, oldest first, today included."""
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=i) for i in range(days - 1, -1, -1)]


def last_months(months: int, now: datetime) -> list[str]:
    """The last `months` UTC months as 'YYYY-MM', oldest first, the current one included."""
    year, month = now.astimezone(UTC).year, now.astimezone(UTC).month
    out = []
    for _ in range(months):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return out[::-1]


def to_the_second(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC to the second, e.g. 2025-11-01T00:00:04Z: what an operator reads."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_utc(value: datetime | str) -> datetime:
    """A timestamp read through a UNION: SQLite may hand back text, and never an offset."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
