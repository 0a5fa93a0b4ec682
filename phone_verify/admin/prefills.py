"""Identity prefills, for support: who, when, which operator, how it ended; identity masked."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import IdentityPrefill
from .base import MaskedPhoneMixin, ReviewAdmin


def mask_identity(value: Any) -> Any:
    """Identity data as staff see it: each text's first character, then stars."""
    if isinstance(value, dict):
        return {key: mask_identity(item) for key, item in value.items()}
    text = str(value or "")
    return text[:1] + "*" * (len(text) - 1)


@admin.register(IdentityPrefill)
class IdentityPrefillAdmin(MaskedPhoneMixin, ReviewAdmin):
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

    @admin.display(description=_("identity data (masked)"))
    def masked_data(self, obj: IdentityPrefill) -> str:
        return json.dumps(mask_identity(obj.data), ensure_ascii=False) if obj.data else "-"
