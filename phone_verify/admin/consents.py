"""Consent records: who consented to what, when, how it was proven, and what changed since."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from .. import services
from ..audit import verdict, with_chain_context
from ..clients import client_ip
from ..consents import CHANNEL_LABELS, CHANNELS, CONSENT_KEYS, CONTACTS, consent_key
from ..exceptions import InvalidPhoneNumber
from ..exports import consent_rows, csv_lines, filter_records, with_currency
from ..models import ConsentEcho, ConsentRecord
from ..status import Status
from .base import MaskedPhoneMixin, ReadOnlyMixin, ReviewAdmin, fragment
from .list_filters import ChannelFilter, ContactFilter, CurrentFilter, VerifiedFilter


def granted_summary(record: ConsentRecord) -> str:
    """``1: SMS, Email · 2: SMS``: each contact granted something, and its channels."""
    parts = []
    for contact in CONTACTS:
        channels = [
            str(CHANNEL_LABELS[channel])
            for channel in CHANNELS
            if getattr(record, consent_key(channel, contact))
        ]
        if channels:
            parts.append(f"{contact}: {', '.join(channels)}")
    return " · ".join(parts) or "-"


class ConsentEchoInline(ReadOnlyMixin, admin.TabularInline):
    """What the provider said it received (DQE's ``channels``); a mismatch is flagged."""

    model = ConsentEcho
    extra = 0
    fields = ["received_at", "provider", "channels", "matches"]
    readonly_fields = fields
    ordering = ["received_at", "id"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(MaskedPhoneMixin, ReviewAdmin):
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
    review_pages = (("export/", "export_view", "phone_verify_consentrecord_export"),)

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

    def changelist_context(self, request: HttpRequest) -> dict[str, Any]:
        query = request.GET.urlencode()
        export_url = reverse("admin:phone_verify_consentrecord_export")
        return {"export_url": export_url + (f"?{query}" if query else "")}

    # --- columns ----------------------------------------------------------------------------

    @admin.display(description=_("granted"))
    def summary(self, obj: ConsentRecord) -> str:
        return granted_summary(obj)

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

    @admin.display(description=_("proof intact"), boolean=True)
    def intact(self, obj: ConsentRecord) -> bool:
        return not _problems(obj)

    # --- the record's page ------------------------------------------------------------------

    @admin.display(description=_("verification"))
    def verification_link(self, obj: ConsentRecord) -> SafeString:
        return fragment("consentrecord/verification_link.html", verification_id=obj.verification_id)

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
    def notice_shown(self, obj: ConsentRecord) -> SafeString:
        return fragment("consentrecord/notice.html", notice=obj.notice)  # no query without one

    @admin.display(description=_("audit"))
    def audit_verdict(self, obj: ConsentRecord) -> SafeString:
        """What ``phone_verify_audit`` says of this record."""
        return fragment("consentrecord/audit_verdict.html", problems=_problems(obj))

    @admin.display(description=_("records, oldest first"))
    def history(self, obj: ConsentRecord) -> SafeString:
        records = with_currency(ConsentRecord.objects.for_phone(obj.phone_number)).order_by(
            "created_at", "id"
        )
        rows = [{"record": record, "summary": granted_summary(record)} for record in records]
        return fragment("consentrecord/history.html", rows=rows, shown=obj)

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
        return csv_response(queryset)

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The whole filtered list (the changelist's filters and search) as CSV."""
        changelist = self.get_changelist_instance(request)
        return csv_response(changelist.get_queryset(request))


def _problems(record: ConsentRecord) -> list[str]:
    """``audit.verdict`` of ``record``, worked out once per record shown (a seal and a signature
    checked): the page shows it as the "proof intact" mark and as the verdict."""
    if not hasattr(record, "_audit_problems"):
        record._audit_problems = verdict(record)  # type: ignore[attr-defined]
    return record._audit_problems  # type: ignore[attr-defined]


def csv_response(queryset: QuerySet[ConsentRecord]) -> StreamingHttpResponse:
    """The records ``queryset`` selects (a selection, or the list's filters and search) as a
    CSV download, streamed a row at a time. Read afresh by primary key: without the list's
    annotations (the chain context's subqueries and joins), which the CSV does not read."""
    records = ConsentRecord.objects.filter(pk__in=queryset.values("pk"))
    response = StreamingHttpResponse(
        csv_lines(consent_rows(records)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="consents-{stamp}.csv"'
    return response
