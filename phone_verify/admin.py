"""Staff review: verifications with their delivery timeline, consent records read-only.

Phone numbers are masked in lists; codes (and their hashes) are never shown.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from . import funnel, outbox, pumping, services
from .audit import verdict, with_chain_context
from .clients import client_ip
from .consents import CHANNEL_LABELS, CHANNELS, CONSENT_KEYS, CONTACTS, consent_key
from .exceptions import InvalidPhoneNumber
from .exports import consent_rows, csv_lines, filter_records, with_currency
from .models import (
    ConsentEcho,
    ConsentRecord,
    DeliveryEvent,
    IdentityPrefill,
    NoticeText,
    PausedPrefix,
    Verification,
)
from .status import Status


class ReadOnlyMixin:
    """Nobody, superusers included, adds, changes or deletes these through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReviewChangeList(ChangeList):
    """A page past the end (or before the start) is a 404, not a redirect to Django's
    "database error" page."""

    def get_results(self, request: HttpRequest) -> None:
        try:
            super().get_results(request)
        except IncorrectLookupParameters:  # raised here only for a page that does not exist
            raise Http404(_("No such page.")) from None


class ReviewAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Base of the app's admin pages: read-only, and an unknown page is a 404."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ReviewChangeList


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
class VerificationAdmin(ReviewAdmin):
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

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        extra = {"backlog": outbox.backlog()}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def get_urls(self) -> list[Any]:
        funnel_view = self.admin_site.admin_view(self.funnel_view)
        return [
            path("funnel/", funnel_view, name="phone_verify_verification_funnel"),
            *super().get_urls(),
        ]

    def funnel_view(self, request: HttpRequest) -> Any:
        """Per provider and day: started, sent, delivered, verified, rates, reported cost."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            days = min(max(int(request.GET.get("days", 30)), 1), 366)
        except ValueError:
            days = 30
        rows = funnel.funnel(days)
        providers = sorted({row.provider for row in rows})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "days": days,
            "backlog": outbox.backlog(),
            "providers": [
                {
                    "name": name,
                    "rows": [row for row in rows if row.provider == name],
                    "chart": funnel.chart_svg([row for row in rows if row.provider == name]),
                }
                for name in providers
            ],
        }
        return TemplateResponse(request, "admin/phone_verify/funnel.html", context)


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
    option: str

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


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReviewAdmin):
    """Who consented to what, when, how it was proven, and what changed since.

    Nobody adds, changes or deletes a record here; "record withdrawal" appends the superseding
    record with the staff user as the actor. The list and its CSV export share the filters.
    """

    list_display = [
        "masked_phone",
        "action",
        "summary",
        "proof",
        "method",
        "notice_version",
        "created_at",
        "current",
        "intact",
    ]
    list_filter = [
        ChannelFilter,
        ContactFilter,
        ("verification__provider", admin.AllValuesFieldListFilter),
        VerifiedFilter,
        CurrentFilter,
        "action",
        "method",
        "created_at",
    ]
    list_select_related = ["verification"]
    date_hierarchy = "created_at"
    search_fields = ["phone_number"]  # see get_search_results: any format, exact E.164 match
    search_help_text = _("A phone number, in any common format.")
    actions = ["record_withdrawal", "export_csv"]
    fieldsets = [
        (None, {"fields": ["phone_number", "action", "summary", "current", "created_at"]}),
        (
            _("Proof"),
            {
                "fields": [
                    "verification_link",
                    "provider",
                    "provider_reference",
                    "verified_at",
                    "method",
                    "ip",
                    "user_agent",
                    "notice_version",
                    "language",
                    "notice_shown",
                    "controller",
                    "purpose",
                    "recorded_by",
                    "supersedes",
                ]
            },
        ),
        (
            _("Signature and chain"),
            {
                "fields": [
                    "intact",
                    "audit_verdict",
                    "sequence",
                    "digest",
                    "previous_digest",
                    "key_id",
                    "signature",
                    "seal",
                ]
            },
        ),
        (_("Flags"), {"fields": CONSENT_KEYS, "classes": ["collapse"]}),
        (_("History of this phone number"), {"fields": ["history"]}),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]
    inlines = [ConsentEchoInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return with_chain_context(with_currency(super().get_queryset(request)))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        try:
            return filter_records(queryset, phone=search_term), False
        except InvalidPhoneNumber:
            return queryset.none(), False

    # --- columns ----------------------------------------------------------------------------

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_phone(self, obj: ConsentRecord) -> str:
        return obj.masked_phone

    @admin.display(description=_("granted"))
    def summary(self, obj: ConsentRecord) -> str:
        """``1: SMS, email · 2: SMS`` (contact: channels)."""
        parts = []
        for contact in CONTACTS:
            channels = [
                str(CHANNEL_LABELS[channel])
                for channel in CHANNELS
                if getattr(obj, consent_key(channel, contact))
            ]
            if channels:
                parts.append(f"{contact}: {', '.join(channels)}")
        return " · ".join(parts) or "-"

    @admin.display(description=_("proof"))
    def proof(self, obj: ConsentRecord) -> str:
        verification = obj.verification
        if verification is None:
            return str(_("recorded by %(actor)s") % {"actor": obj.recorded_by or "-"})
        if verification.status != Status.VERIFIED or verification.verified_at is None:
            return str(_("not verified (%(status)s)") % {"status": verification.status})
        return str(
            _("verified by %(provider)s, %(when)s")
            % {
                "provider": verification.provider,
                "when": date_format(localtime(verification.verified_at), "SHORT_DATETIME_FORMAT"),
            }
        )

    @admin.display(description=_("current"), boolean=True, ordering="is_current")
    def current(self, obj: ConsentRecord) -> bool:
        return bool(getattr(obj, "is_current", False))

    # --- proof ------------------------------------------------------------------------------

    @admin.display(description=_("verification"))
    def verification_link(self, obj: ConsentRecord) -> str:
        if obj.verification_id is None:
            return "-"
        url = reverse("admin:phone_verify_verification_change", args=[obj.verification_id])
        return format_html('<a href="{}">{}</a>', url, obj.verification_id)

    @admin.display(description=_("provider"))
    def provider(self, obj: ConsentRecord) -> str:
        return obj.verification.provider if obj.verification else "-"

    @admin.display(description=_("provider reference"))
    def provider_reference(self, obj: ConsentRecord) -> str:
        return obj.verification.provider_reference if obj.verification else "-"

    @admin.display(description=_("verified"))
    def verified_at(self, obj: ConsentRecord) -> Any:
        return obj.verification.verified_at if obj.verification else None

    @admin.display(description=_("notice text shown"))
    def notice_shown(self, obj: ConsentRecord) -> str:
        if obj.notice_id is None:
            return "-"
        notice = NoticeText.objects.get(pk=obj.notice_id)
        return format_html(
            '<blockquote style="white-space:pre-wrap">{}</blockquote><small>SHA-256 {}</small>',
            notice.text,
            notice.sha256,
        )

    @admin.display(description=_("proof intact"), boolean=True)
    def intact(self, obj: ConsentRecord) -> bool:
        return not verdict(obj)

    @admin.display(description=_("audit"))
    def audit_verdict(self, obj: ConsentRecord) -> str:
        """The lines ``phone_verify_audit`` prints for this record."""
        problems = verdict(obj)
        if not problems:
            return str(_("signature, chain link and seal verified"))
        return "; ".join(problems)

    @admin.display(description=_("records, oldest first"))
    def history(self, obj: ConsentRecord) -> str:
        records = with_currency(ConsentRecord.objects.for_phone(obj.phone_number)).order_by(
            "created_at", "id"
        )
        rows = format_html_join(
            "",
            '<tr{}><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    mark_safe(' style="font-weight:bold"') if record.pk == obj.pk else "",
                    reverse("admin:phone_verify_consentrecord_change", args=[record.pk]),
                    date_format(localtime(record.created_at), "SHORT_DATETIME_FORMAT"),
                    record.get_action_display(),
                    self.summary(record),
                    record.get_method_display(),
                    _("current") if record.is_current else "",
                )
                for record in records
            ),
        )
        return format_html("<table>{}</table>", rows)

    # --- actions ----------------------------------------------------------------------------

    def has_withdraw_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("phone_verify.view_consentrecord") and request.user.has_perm(
            "phone_verify.add_consentrecord"
        )

    @admin.action(description=_("Record withdrawal of all consent"), permissions=["withdraw"])
    def record_withdrawal(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Append, for each phone selected, a record withdrawing everything it granted."""
        phones = sorted(set(queryset.values_list("phone_number", flat=True)))
        for phone in phones:
            services.withdraw_consent(
                phone,
                None,
                method=ConsentRecord.Method.ADMIN,
                recorded_by=request.user.get_username(),
                ip=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", ""),
            )
        self.message_user(
            request,
            _("Withdrawal recorded for %(count)d phone number(s).") % {"count": len(phones)},
        )

    @admin.action(description=_("Export as CSV"), permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        return _csv_response(queryset.model.objects.filter(pk__in=queryset.values("pk")))

    def get_urls(self) -> list[Any]:
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("export/", export, name="phone_verify_consentrecord_export"),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The whole filtered list (the changelist's filters and search) as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return _csv_response(changelist.get_queryset(request))

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        query = request.GET.urlencode()
        extra = {
            "export_url": reverse("admin:phone_verify_consentrecord_export")
            + (f"?{query}" if query else "")
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})


def _csv_response(queryset: QuerySet) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        csv_lines(consent_rows(queryset)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="consents-{stamp}.csv"'
    return response


def mask_identity(value: Any) -> Any:
    """Identity data as staff see it: each text's first character, then stars."""
    if isinstance(value, dict):
        return {key: mask_identity(item) for key, item in value.items()}
    text = str(value or "")
    return text[:1] + "*" * (len(text) - 1)


@admin.register(IdentityPrefill)
class IdentityPrefillAdmin(ReviewAdmin):
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


@admin.register(PausedPrefix)
class PausedPrefixAdmin(ReadOnlyMixin, admin.ModelAdmin):
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
