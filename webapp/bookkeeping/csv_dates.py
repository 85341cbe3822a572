"""Dates in bank statements: YYYY-MM-DD, MM/DD/YYYY (US) or DD/MM/YYYY (UK and most of the world).

The order of a slashed date is decided once per file, never per row: 03/04/2025 is March 4 in a US
export and 3 April in a UK one, and a file that mixed the two would be wrong either way. A file where
one order fails (13/01/2025) has its answer; a file where every date reads both ways is asked about.
"""
from __future__ import annotations

import re
from datetime import date
from typing import Literal

DateOrder = Literal["YYYY-MM-DD", "MM/DD/YYYY", "DD/MM/YYYY"]
ISO: DateOrder = "YYYY-MM-DD"
MDY: DateOrder = "MM/DD/YYYY"
DMY: DateOrder = "DD/MM/YYYY"
DATE_ORDERS: tuple[DateOrder, ...] = (ISO, MDY, DMY)
DATE_HELP = "is not a date like 2025-01-31, 01/31/2025 or 31/01/2025"

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_SLASHED = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})$")


def _make(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _slashed(match: re.Match[str], order: DateOrder) -> date | None:
    first, second, year = int(match[1]), int(match[3]), int(match[4])
    return _make(year, first, second) if order == MDY else _make(year, second, first)


def parse_date(text: str, order: DateOrder | None) -> date | None:
    """The date `text` names, reading a slashed date in `order`; None if it is not one."""
    text = text.strip()
    iso = _ISO.match(text)
    if iso:
        return _make(int(iso[1]), int(iso[2]), int(iso[3]))
    slashed = _SLASHED.match(text)
    if slashed and order in (MDY, DMY):
        return _slashed(slashed, order)
    return None


def first_slashed(texts: list[str]) -> str | None:
    """The first date of the file written with slashes (the one a date-order question can show)."""
    return next((t.strip() for t in texts if _SLASHED.match(t.strip())), None)


def decide_order(texts: list[str]) -> tuple[DateOrder, ...]:
    """The date orders a file's dates can be read in: one when the file decides, (MM/DD, DD/MM) when every
    slashed date reads both ways. Dates that fit neither are left to the row checks (each gets its error)."""
    slashed = [m for m in (_SLASHED.match(t.strip()) for t in texts) if m]
    if not slashed:
        return (ISO,)
    fits = {order: sum(_slashed(m, order) is not None for m in slashed) for order in (MDY, DMY)}
    both = tuple(order for order in (MDY, DMY) if fits[order] == len(slashed))
    if both:
        return both
    return (max((MDY, DMY), key=lambda order: fits[order]),)  # most rows fit it; the others get line errors


def example(order: DateOrder, sample: str) -> str:
    """How `sample` (a slashed date from the file) reads in `order`, for the question: '3 April 2025'."""
    match = _SLASHED.match(sample.strip())
    day = _slashed(match, order) if match else None
    return f"{day.day} {day:%B %Y}" if day else sample
