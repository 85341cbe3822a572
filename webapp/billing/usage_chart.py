"""The usage history chart on /billing: posted and analysed per UTC month, the last 12 months.

Everything is computed here (bars, axis, labels) so the template only draws the SVG; read from
usage_monthly in one query, months without a row count as zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import UsageMonthly

MONTHS = 12
WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 28  # room for the axis labels
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Bar:
    """One rectangle of the chart, with what it stands for."""

    x: float
    y: float
    width: float
    height: float
    value: int
    series: str


@dataclass(frozen=True)
class MonthColumn:
    """One month: its label, its two bars and where the label goes."""

    year_month: str
    label: str
    label_x: float
    posted: Bar
    analyzed: Bar


@dataclass(frozen=True)
class UsageChart:
    """The whole chart: size, the months, and the horizontal grid lines with their values."""

    width: int
    height: int
    months: list[MonthColumn]
    gridlines: list[tuple[float, int]]
    baseline: float
    empty: bool


def last_months(now: datetime, count: int = MONTHS) -> list[str]:
    """The `count` UTC months up to and including now's, oldest first ('2025-11')."""
    year, month = now.year, now.month
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(found))


def _nice_ceiling(value: int) -> int:
    """The smallest 1/2/5 × 10^n at or above value (at least 10), so the grid has round numbers."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor * 10 >= max(value, 10):
                return step * factor * 10
        step *= 10


def usage_chart(tenant_id: str, now: datetime) -> UsageChart:
    """Build the chart for the 12 months up to `now`."""
    months = last_months(now)
    rows = db.session.execute(select(UsageMonthly.year_month, UsageMonthly.tx_posted, UsageMonthly.tx_analyzed)
                              .where(UsageMonthly.tenant_id == tenant_id,
                                     UsageMonthly.year_month.in_(months))).all()
    counts = {ym: (posted, analyzed) for ym, posted, analyzed in rows}
    top = _nice_ceiling(max([max(v) for v in counts.values()] or [0]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(months)
    bar_w = slot * 0.36
    baseline = TOP + plot_h

    def bar(x: float, value: int, series: str) -> Bar:
        height = round(plot_h * value / top, 1)
        return Bar(round(x, 1), round(baseline - height, 1), round(bar_w, 1), height, value, series)

    columns = []
    for i, ym in enumerate(months):
        posted, analyzed = counts.get(ym, (0, 0))
        x0 = LEFT + i * slot + slot * 0.14
        columns.append(MonthColumn(ym, f"{MONTH_NAMES[int(ym[5:]) - 1]} {ym[2:4]}", round(LEFT + i * slot + slot / 2, 1),
                                   bar(x0, posted, "posted"), bar(x0 + bar_w, analyzed, "analysed")))
    grid = [(round(baseline - plot_h * k / 4, 1), top * k // 4) for k in range(5)]
    return UsageChart(WIDTH, HEIGHT, columns, grid, baseline, not any(p or a for p, a in counts.values()))
