"""The verification funnel per provider and per day: started, sent, delivered, verified, and
what the provider said it cost (TeleSign reports a price in its callbacks). The admin's funnel
page draws it (``admin/charts.py``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

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
