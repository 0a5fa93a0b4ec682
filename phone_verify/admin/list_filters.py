"""The consent list's filters: channel granted, contact, verified, current. Each passes its
value to ``exports.filter_records``, the definition the CSV export and the export command
share; a value that is not one of ours filters nothing."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from ..consents import CHANNEL_LABELS, CHANNELS, CONTACTS
from ..exports import filter_records


class ChannelFilter(admin.SimpleListFilter):
    title = _("channel granted")
    parameter_name = "channel"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(channel, CHANNEL_LABELS[channel]) for channel in CHANNELS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in CHANNELS:  # none, or not one we offer: no filter
            return queryset
        return filter_records(queryset, channel=self.value())


class ContactFilter(admin.SimpleListFilter):
    title = _("contact")
    parameter_name = "contact"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(str(n), _("you") if n == 1 else _("contact %(n)s") % {"n": n}) for n in CONTACTS]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value not in {str(n) for n in CONTACTS}:
            return queryset
        return filter_records(queryset, contact=int(value))


class _YesNoFilter(admin.SimpleListFilter):
    option: str  # the keyword of ``filter_records``

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in ("yes", "no"):
            return queryset
        return filter_records(queryset, **{self.option: self.value() == "yes"})


class VerifiedFilter(_YesNoFilter):
    title = _("verified")
    parameter_name = "verified"
    option = "verified"


class CurrentFilter(_YesNoFilter):
    title = _("current (not superseded)")
    parameter_name = "current"
    option = "current"
