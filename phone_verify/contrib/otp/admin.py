from __future__ import annotations

from django.contrib import admin

from .models import PhoneVerifyDevice


@admin.register(PhoneVerifyDevice)
class PhoneVerifyDeviceAdmin(admin.ModelAdmin):
    """Devices listed with masked numbers; the full number only on the device's own page."""

    list_display = ["name", "user", "masked_phone", "confirmed"]
    list_filter = ["confirmed"]
    raw_id_fields = ["user"]
    search_fields = ["name", "user__username"]
