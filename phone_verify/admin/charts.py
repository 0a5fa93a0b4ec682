"""The funnel page's bar chart: its geometry here, its SVG in
``templates/admin/phone_verify/funnel_chart.html``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..funnel import FunnelDay


@dataclass(frozen=True)
class Series:
    name: str  # a FunnelDay count
    label: Promise
    colour: str


SERIES = (
    Series("sent", _("sent"), "#8fa8c8"),
    Series("delivered", _("delivered"), "#3c78b4"),
    Series("verified", _("verified"), "#1b8a3c"),
)


@dataclass(frozen=True)
class Bar:
    series: Series
    day: dt.date
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class DayLabel:
    day: dt.date
    x: float  # the middle of the day's slot
    y: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    labels: list[DayLabel]
    series: tuple[Series, ...] = SERIES


def funnel_chart(rows: list[FunnelDay], width: int = 640, height: int = 160) -> BarChart | None:
    """Grouped bars (sent, delivered, verified) per day for one provider, oldest on the left;
    None without a day."""
    rows = sorted(rows, key=lambda row: row.day)
    if not rows:
        return None
    plot = height - 20  # the bottom 20 pixels hold the dates
    peak = max(max(row.sent, row.started) for row in rows) or 1
    slot = width / len(rows)
    bar = min(max(slot / 4, 1), 24)  # thin bars even for a single day
    bars = []
    for offset, series in enumerate(SERIES):
        for index, row in enumerate(rows):
            value = getattr(row, series.name)
            bar_height = plot * value / peak
            x = index * slot + offset * bar + bar / 2
            bars.append(Bar(series, row.day, value, x, plot - bar_height, bar, bar_height))
    labels = [DayLabel(row.day, i * slot + slot / 2, height - 5) for i, row in enumerate(rows)]
    return BarChart(width, height, bars, labels)
