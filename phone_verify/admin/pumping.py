"""Number ranges the pumping guard paused, and the action that lifts a pause."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from .. import pumping
from ..models import PausedPrefix
from .base import ReviewAdmin


@admin.register(PausedPrefix)
class PausedPrefixAdmin(ReviewAdmin):
    """Number ranges the pumping guard paused, and the action that lifts a pause."""

    list_display = ["prefix", "in_force", "paused_at", "until", "sends", "verified", "lifted"]
    list_filter = ["paused_at", "lifted_at"]
    search_fields = ["prefix"]
    fields = ["prefix", "paused_at", "until", "sends", "verified", "lifted_at", "lifted_by"]
    readonly_fields = fields
    actions = ["lift_pauses"]

    @admin.display(description=_("in force"), boolean=True)
    def in_force(self, obj: PausedPrefix) -> bool:
        return obj.in_force

    @admin.display(description=_("lifted"))
    def lifted(self, obj: PausedPrefix) -> str:
        if obj.lifted_at is None:
            return "-"
        return f"{date_format(localtime(obj.lifted_at), 'SHORT_DATETIME_FORMAT')} ({obj.lifted_by})"

    def has_lift_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("phone_verify.change_pausedprefix")

    @admin.action(description=_("Lift the selected pauses (send again)"), permissions=["lift"])
    def lift_pauses(self, request: HttpRequest, queryset: QuerySet) -> None:
        pauses = list(queryset.filter(lifted_at__isnull=True, until__gt=timezone.now()))
        for pause in pauses:
            pumping.lift(pause, by=request.user.get_username())
        self.message_user(request, _("%(count)d pause(s) lifted.") % {"count": len(pauses)})
