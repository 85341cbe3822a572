"""Small bar charts for /admin, laid out here and drawn as inline SVG by templates/ops/_bar_chart.html.

The geometry is computed in Python (the template only places what it is given), so a chart needs no
JavaScript and reads the same in a screenshot, a browser without scripts, or a test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

WIDTH, HEIGHT = 360, 190
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 26
MAX_LABELS = 7  # x labels beyond this many would overlap: every other one (or third…) is shown


@dataclass(frozen=True)
class Series:
    """One series: a name for the legend, a CSS class for its colour, one value per category."""

    name: str
    css: str
    values: list[float]


@dataclass(frozen=True)
class Bar:
    """A rectangle, with the tooltip (SVG <title>) that says its exact value."""

    x: float
    y: float
    w: float
    h: float
    css: str
    label: str


@dataclass(frozen=True)
class Tick:
    """An axis label at a position."""

    pos: float
    text: str


@dataclass
class BarChart:
    """Everything the template needs to draw one chart."""

    key: str
    title: str
    description: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    legend: list[Series] = field(default_factory=list)
    threshold: Tick | None = None
    empty: bool = False

    @property
    def plot_left(self) -> int:
        """Where the plot area starts (the y axis)."""
        return LEFT

    @property
    def plot_right(self) -> int:
        """Where the plot area ends."""
        return self.width - RIGHT

    @property
    def baseline(self) -> int:
        """The y of the x axis."""
        return self.height - BOTTOM


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at or above `value` (at least 1): a readable axis top."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text}{unit}"


def bar_chart(key: str, title: str, description: str, categories: list[str], series: list[Series],
              stacked: bool = False, y_max: float | None = None, threshold: float | None = None,
              threshold_label: str = "", unit: str = "") -> BarChart:
    """Lay out bars per category: stacked (one column of segments) or grouped (side by side)."""
    chart = BarChart(key, title, description, legend=series)
    totals = [sum(s.values[i] for s in series) if stacked else max((s.values[i] for s in series), default=0)
              for i in range(len(categories))]
    top = y_max or nice_ceiling(max([*totals, (threshold or 0) * 1.2, 0]))
    plot_w, plot_h = chart.plot_right - LEFT, chart.baseline - TOP
    chart.empty = not any(totals)
    slot = plot_w / max(len(categories), 1)
    group = slot * 0.72
    bar_w = group if stacked else group / max(len(series), 1)

    def y_of(v: float) -> float:
        return chart.baseline - plot_h * min(v, top) / top

    for i, category in enumerate(categories):
        x0 = LEFT + slot * i + (slot - group) / 2
        stack = 0.0
        for j, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            low, high = (stack, stack + value) if stacked else (0.0, value)
            x = x0 if stacked else x0 + bar_w * j
            chart.bars.append(Bar(round(x, 1), round(y_of(high), 1), round(bar_w - (0 if stacked else 1), 1),
                                  round(y_of(low) - y_of(high), 1), s.css, f"{category} · {s.name}: "
                                  f"{_fmt(value, unit)}"))
            stack += value if stacked else 0
        if (len(categories) - 1 - i) % math.ceil(len(categories) / MAX_LABELS) == 0:  # the newest always
            chart.x_ticks.append(Tick(round(LEFT + slot * i + slot / 2, 1), category))
    chart.y_ticks = [Tick(round(y_of(top * f), 1), _fmt(top * f, unit)) for f in (0, 0.5, 1)]
    if threshold is not None:
        chart.threshold = Tick(round(y_of(threshold), 1), threshold_label)
    return chart
