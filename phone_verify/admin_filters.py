"""Which consent records an auditor asks for: one definition for the admin list filters, the
admin search, the CSV export and the ``phone_verify_export_csv`` command."""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import or_

import phonenumbers
from django.db.models import Q, QuerySet

from .conf import app_settings
from .consents import CHANNELS, CONTACTS, consent_key
from .exceptions import InvalidPhoneNumber
from .exports import with_currency
from .models import ConsentRecord
from .phones import alpha3_to_alpha2
from .status import Status


def normalize_phone(text: str) -> str:
    """A number typed in any common format (``06 12 34 56 78``, ``+33 6 12...``,
    ``0033612345678``) as E.164; national numbers are read in the first allowed country (France
    when none is set). ``InvalidPhoneNumber`` when it is not a number."""
    region = alpha3_to_alpha2((app_settings.ALLOWED_COUNTRIES or ["FRA"])[0]) or "FR"
    cleaned = text.strip()
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber() from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
