"""Verifications with their delivery timeline, the owed-sends backlog and the funnel page."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from .. import funnel, outbox
from ..models import DeliveryEvent, Verification
from .base import MaskedPhoneMixin, ReadOnlyMixin, ReviewAdmin
from .charts import funnel_chart


class DeliveryEventInline(ReadOnlyMixin, admin.TabularInline):
    """The timeline: every report of the verification's delivery, with its raw payload."""

    model = DeliveryEvent
    extra = 0
    fields = [
        "created_at",
        "kind",
        "provider",
        "provider_status",
        "status",
        "applied",
        "occurred_at",
        "details",
        "raw",
    ]
    readonly_fields = fields
    ordering = ["created_at", "id"]


@admin.register(Verification)
class VerificationAdmin(MaskedPhoneMixin, ReviewAdmin):
    list_display = [
        "masked_phone",
        "status",
        "provider",
        "attempts",
        "sends",
        "created_at",
        "verified_at",
    ]
    list_filter = ["status", "provider", "country", "created_at"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "phone_number",
        "country",
        "provider",
        "provider_reference",
        "status",
        "reason",
        "attempts",
        "sends",
        "sends_done",
        "created_at",
        "last_sent_at",
        "expires_at",
        "verified_at",
        "ip",
        "user_agent",
        "user",
        "purpose",
    ]  # code_hash is deliberately absent
    readonly_fields = fields
    inlines = [DeliveryEventInline]
    review_pages = (("funnel/", "funnel_view", "phone_verify_verification_funnel"),)

    def changelist_context(self, request: HttpRequest) -> dict[str, Any]:
        return {"backlog": outbox.backlog()}

    def funnel_view(self, request: HttpRequest) -> TemplateResponse:
        """Per provider and day: started, sent, delivered, verified, rates, reported cost."""
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 366)
        except ValueError:
            days = 30
        by_provider: dict[str, list[funnel.FunnelDay]] = defaultdict(list)
        for row in funnel.funnel(days):
            by_provider[row.provider].append(row)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "days": days,
            "backlog": outbox.backlog(),
            "providers": [
                {"name": name, "rows": rows, "chart": funnel_chart(rows)}
                for name, rows in sorted(by_provider.items())
            ],
        }
        return TemplateResponse(request, "admin/phone_verify/funnel.html", context)
