"""Calendar arithmetic for billing periods (UTC, month steps clamp to the month's last day)."""
from __future__ import annotations

import calendar
import time
from datetime import datetime, timezone

from .errors import StripeError

DAY = 86400
MAX_TIMESTAMP = 253402300799  # 9999-12-31 23:59:59 UTC, the last second a datetime can hold


def real_now() -> int:
    """The wall-clock time as a Unix timestamp."""
    return int(time.time())


def add_months(ts: int, months: int, anchor: int | None = None) -> int:
    """`ts` moved by whole months, on the anchor's day of month (clamped), at its time of day."""
    base = datetime.fromtimestamp(_checked(ts), timezone.utc)
    day_source = datetime.fromtimestamp(anchor if anchor is not None else ts, timezone.utc)
    month_index = base.month - 1 + months
    year, month = base.year + month_index // 12, month_index % 12 + 1
    if not 1970 <= year <= 9999:
        raise _out_of_range()
    day = min(day_source.day, calendar.monthrange(year, month)[1])
    moved = base.replace(year=year, month=month, day=day)
    return _checked(int(moved.timestamp()))


def add_interval(ts: int, interval: str, count: int, anchor: int | None = None) -> int:
    """`ts` plus `count` price intervals (day, week, month, year)."""
    if interval == "day":
        return _checked(ts + count * DAY)
    if interval == "week":
        return _checked(ts + count * 7 * DAY)
    if interval == "year":
        return add_months(ts, 12 * count, anchor)
    return add_months(ts, count, anchor)


def _checked(ts: int) -> int:
    if not 0 <= ts <= MAX_TIMESTAMP:
        raise _out_of_range()
    return ts


def _out_of_range() -> StripeError:
    """Billing periods cannot run past the year 9999 (the request is refused and undone)."""
    return StripeError("This would move a billing period past the year 9999, which the Stripe "
                       "emulator cannot represent.", replayable=False)


def iso(ts: int | None) -> str:
    """Human-readable UTC time for the hosted pages."""
    if ts is None:
        return "—"
    if not 0 <= ts <= MAX_TIMESTAMP:
        return f"{ts} (Unix time)"
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
