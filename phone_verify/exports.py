"""Consent records for an auditor: which ones (``filter_records``, one definition for the admin
list filters, the admin search, the CSV export and the ``phone_verify_export_csv`` command), and
as CSV, streamed: constant memory whatever the number of rows.

The admin's export (an action and the "export" link of the filtered list) and the
``phone_verify_export_csv`` command both write through ``consent_rows``.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from .consents import CHANNELS, CONSENT_KEYS, CONTACTS, consent_key
from .models import ConsentRecord
from .phones import normalize_phone
from .status import Status

COLUMNS = [
    "id",
    "phone_number",
    "action",
    "current",
    *CONSENT_KEYS,
    "created_at",
    "method",
    "notice_version",
    "language",
    "controller",
    "purpose",
    "ip",
    "user_agent",
    "recorded_by",
    "verification_id",
    "provider",
    "provider_reference",
    "verified_at",
    "supersedes_id",
    "seal",
    "sequence",
    "digest",
    "key_id",
    "signature",
]
CHUNK = 2000  # rows fetched per round trip: memory stays flat

# What makes a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Cells whose text came from outside (a browser, a provider, settings, staff): made safe. The
# others are ours (ids, flags, times, digests, base64 signatures) or validated (the phone
# number, E.164, starts with "+": left as it is, so the column stays a phone number).
FREE_TEXT_COLUMNS = frozenset(
    {
        "method",
        "notice_version",
        "language",
        "controller",
        "purpose",
        "user_agent",
        "recorded_by",
        "provider",
        "provider_reference",
    }
)


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, with a leading ``'`` (shown as text)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def with_currency(queryset: QuerySet[ConsentRecord]) -> QuerySet[ConsentRecord]:
    """Annotate ``is_current``: in force, and no later record in force for the same phone."""
    later = ConsentRecord.objects.in_force().filter(
        phone_number=OuterRef("phone_number"), created_at__gt=OuterRef("created_at")
    )
    own = ConsentRecord.objects.in_force().filter(pk=OuterRef("pk"))
    return queryset.annotate(is_current=Exists(own) & ~Exists(later))


def consent_rows(queryset: QuerySet[ConsentRecord]) -> Iterator[list[Any]]:
    """The header, then one row per record, fetched ``CHUNK`` at a time; free-text cells made
    spreadsheet-safe."""
    yield COLUMNS
    records = (
        with_currency(queryset)
        .select_related("verification")
        .defer("signed_record")
        .order_by("created_at", "id")
    )
    for record in records.iterator(chunk_size=CHUNK):
        row = _row(record)
        yield [
            spreadsheet_safe(value) if column in FREE_TEXT_COLUMNS else value
            for column, value in zip(COLUMNS, row, strict=True)
        ]


def _row(record: ConsentRecord) -> list[Any]:
    verification = record.verification
    return [
        record.pk,
        record.phone_number,
        record.action,
        int(record.is_current),
        *(int(getattr(record, key)) for key in CONSENT_KEYS),
        record.created_at.isoformat(),
        record.method,
        record.notice_version,
        record.language,
        record.controller,
        record.purpose,
        record.ip or "",
        record.user_agent,
        record.recorded_by,
        record.verification_id or "",
        verification.provider if verification else "",
        verification.provider_reference if verification else "",
        verification.verified_at.isoformat() if verification and verification.verified_at else "",
        record.supersedes_id or "",
        record.seal,
        record.sequence or "",
        record.digest,
        record.key_id,
        record.signature,
    ]


class _Echo:
    """A file whose ``write`` returns what it was given: csv.writer then yields lines."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def channel_granted(channel: str) -> Q:
    """Records granting ``channel`` to any contact."""
    return reduce(or_, (Q(**{consent_key(channel, contact): True}) for contact in CONTACTS))


def contact_granted(contact: int) -> Q:
    """Records granting anything to contact ``contact`` (1 to 5)."""
    return reduce(or_, (Q(**{consent_key(channel, contact): True}) for channel in CHANNELS))


def filter_records(
    records: QuerySet[ConsentRecord],
    *,
    phone: str | None = None,
    channel: str | None = None,
    contact: int | None = None,
    provider: str | None = None,
    verified: bool | None = None,
    current: bool | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[ConsentRecord]:
    if phone:
        records = records.filter(phone_number=normalize_phone(phone))
    if channel:
        records = records.filter(channel_granted(channel))
    if contact:
        records = records.filter(contact_granted(contact))
    if provider:
        records = records.filter(verification__provider=provider)
    if verified is not None:
        condition = Q(verification__status=Status.VERIFIED)
        records = records.filter(condition if verified else ~condition)
    if current is not None:
        records = with_currency(records).filter(is_current=current)
    if since:
        records = records.filter(created_at__date__gte=since)
    if until:
        records = records.filter(created_at__date__lte=until)
    return records
