"""Jinja filters: templates format, they never decide."""
from __future__ import annotations

from datetime import UTC, datetime


def cents(amount: int | None, currency: str = "usd") -> str:
    """Format integer cents as money, e.g. 4900 → '$49.00'."""
    if amount is None:
        return "–"
    symbol = "$" if currency.lower() == "usd" else currency.upper() + " "
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 100)
    return f"{sign}{symbol}{whole:,}.{frac:02d}"


def datetime_utc(moment: datetime | None) -> str:
    """Format an aware datetime as 'YYYY-MM-DD HH:MM UTC'."""
    if moment is None:
        return "–"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def date_utc(moment: datetime | None) -> str:
    """Format an aware datetime as its UTC date, 'YYYY-MM-DD'."""
    if moment is None:
        return "–"
    return moment.astimezone(UTC).strftime("%Y-%m-%d")
