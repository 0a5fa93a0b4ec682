"""The verification funnel per provider and per day: started, sent, delivered, verified, and
what the provider said it cost (TeleSign reports a price in its callbacks)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .models import DeliveryEvent, Verification
from .status import Status

REACHED = [Status.DELIVERED, Status.VERIFIED]  # a verified code was received, whatever said


@dataclass
class FunnelDay:
    provider: str
    day: dt.date
    started: int
    sent: int
    delivered: int
    verified: int
    cost: dict[str, Decimal] = field(default_factory=dict)  # currency -> total

    @staticmethod
    def _rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def delivered_rate(self) -> float | None:
        return self._rate(self.delivered, self.sent)

    @property
    def verified_rate(self) -> float | None:
        return self._rate(self.verified, self.sent)


def funnel(days: int = 30, now: dt.datetime | None = None) -> list[FunnelDay]:
    """One row per provider and day of the last ``days`` days, newest first (two queries)."""
    since = (now or timezone.now()) - dt.timedelta(days=days)
    rows = (
        Verification.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("provider", "day")
        .annotate(
            started=Count("pk"),
            sent=Count("pk", filter=Q(sends_done__gt=0)),
            delivered=Count("pk", filter=Q(status__in=REACHED)),
            verified=Count("pk", filter=Q(status=Status.VERIFIED)),
        )
        .order_by("-day", "provider")
    )
    result = {(row["provider"], row["day"]): FunnelDay(**row) for row in rows}
    priced = (
        DeliveryEvent.objects.filter(verification__created_at__gte=since, details__has_key="price")
        .annotate(day=TruncDate("verification__created_at"))
        .values_list("verification__provider", "day", "details")
    )
    for provider, day, details in priced:
        row = result.get((provider, day))
        try:
            price = Decimal(str(details.get("price")))
        except (InvalidOperation, AttributeError):
            continue
        if row is not None:
            currency = str(details.get("currency") or "")
            row.cost[currency] = row.cost.get(currency, Decimal(0)) + price
    return list(result.values())


BAR_COLOURS = {"sent": "#8fa8c8", "delivered": "#3c78b4", "verified": "#1b8a3c"}


def chart_svg(rows: list[FunnelDay], width: int = 640, height: int = 160) -> str:
    """Grouped bars (sent, delivered, verified) per day for one provider, oldest on the left."""
    rows = sorted(rows, key=lambda row: row.day)
    if not rows:
        return ""
    peak = max(max(row.sent, row.started) for row in rows) or 1
    slot = width / len(rows)
    bar = min(max(slot / 4, 1), 24)  # thin bars even for a single day
    by_series: dict[str, list[str]] = defaultdict(list)
    for index, row in enumerate(rows):
        for offset, series in enumerate(BAR_COLOURS):
            value = getattr(row, series)
            bar_height = (height - 20) * value / peak
            x = index * slot + offset * bar + bar / 2
            by_series[series].append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{} {}: {}</title></rect>",
                    f"{x:.1f}",
                    f"{height - 20 - bar_height:.1f}",
                    f"{bar:.1f}",
                    f"{bar_height:.1f}",
                    BAR_COLOURS[series],
                    row.day.isoformat(),
                    series,
                    value,
                )
            )
    bars = format_html_join("", "{}", ((mark,) for marks in by_series.values() for mark in marks))
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" font-size="10" text-anchor="middle">{}</text>',
        (
            (f"{i * slot + slot / 2:.1f}", height - 5, row.day.strftime("%d/%m"))
            for i, row in enumerate(rows)
        ),
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" '
        'viewBox="0 0 {} {}">{}{}</svg>',
        width,
        height,
        width,
        height,
        bars,
        labels,
    )
