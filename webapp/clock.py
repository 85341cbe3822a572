"""The only clock: every timestamp in the app comes from here, aware and in UTC."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def next_utc_midnight(moment: datetime) -> datetime:
    """Return the UTC midnight that starts the day after `moment`."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1)


def next_month_start(moment: datetime) -> datetime:
    """Return 00:00 UTC on the first day of the month after `moment`."""
    m = moment.astimezone(UTC)
    year, month = (m.year + 1, 1) if m.month == 12 else (m.year, m.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def year_month(moment: datetime) -> str:
    """Return the UTC calendar month of `moment` as 'YYYY-MM'."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def isoformat(moment: datetime | None) -> str | None:
    """Render an aware datetime as ISO 8601 with a trailing 'Z', or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
