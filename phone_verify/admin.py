"""Staff review: verifications with their delivery timeline, consent records read-only.

Phone numbers are masked in lists; codes (and their hashes) are never shown.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .consents import CONSENT_KEYS
from .models import ConsentEcho, ConsentRecord, DeliveryEvent, IdentityPrefill, Verification


class ReadOnlyMixin:
    """Nobody, superusers included, adds, changes or deletes these through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryEventInline(ReadOnlyMixin, admin.TabularInline):
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


class ConsentEchoInline(ReadOnlyMixin, admin.TabularInline):
    """What the provider said it received (DQE's ``channels``); a mismatch is flagged."""

    model = ConsentEcho
    extra = 0
    fields = ["received_at", "provider", "channels", "matches"]
    readonly_fields = fields
    ordering = ["received_at", "id"]


@admin.register(Verification)
class VerificationAdmin(ReadOnlyMixin, admin.ModelAdmin):
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

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_phone(self, obj: Verification) -> str:
        return obj.masked_phone


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "masked_phone",
        "action",
        "granted_channels",
        "method",
        "notice_version",
        "created_at",
    ]
    list_filter = ["action", "method", "created_at"]
    list_select_related = ["verification"]
    date_hierarchy = "created_at"
    fields = [
        "phone_number",
        "action",
        *CONSENT_KEYS,
        "verification",
        "supersedes",
        "created_at",
        "ip",
        "user_agent",
        "method",
        "notice_version",
        "language",
        "controller",
        "purpose",
        "recorded_by",
        "seal",
        "seal_ok",
    ]
    readonly_fields = fields
    inlines = [ConsentEchoInline]

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_phone(self, obj: ConsentRecord) -> str:
        return obj.masked_phone

    @admin.display(description=_("granted"))
    def granted_channels(self, obj: ConsentRecord) -> str:
        return ", ".join(obj.granted) or "-"

    @admin.display(description=_("seal intact"), boolean=True)
    def seal_ok(self, obj: ConsentRecord) -> bool:
        return obj.seal_is_valid()


def mask_identity(value: Any) -> Any:
    """Identity data as staff see it: each text's first character, then stars."""
    if isinstance(value, dict):
        return {key: mask_identity(item) for key, item in value.items()}
    text = str(value or "")
    return text[:1] + "*" * (len(text) - 1)


@admin.register(IdentityPrefill)
class IdentityPrefillAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Prefills for support: who, when, which operator, how it ended; identity data masked."""

    list_display = ["masked_phone", "status", "operator", "error", "created_at", "purged_at"]
    list_filter = ["status", "operator", "error", "created_at"]
    date_hierarchy = "created_at"
    fields = [
        "masked_phone",
        "status",
        "scope",
        "operator",
        "error",
        "error_id",
        "error_type",
        "polls",
        "masked_data",
        "created_at",
        "token_expires_at",
        "completed_at",
        "purged_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_phone(self, obj: IdentityPrefill) -> str:
        return obj.masked_phone

    @admin.display(description=_("identity data (masked)"))
    def masked_data(self, obj: IdentityPrefill) -> str:
        return json.dumps(mask_identity(obj.data), ensure_ascii=False) if obj.data else "-"
