"""The consent flow: append a record (never update one), withdraw, and read the one in force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from django.db import transaction
from django.utils import timezone, translation

from .. import signals
from ..conf import app_settings
from ..consents import as_flags, notice_text, without
from ..models import ConsentRecord, NoticeText, Verification
from ..phones import PhoneLike, phone_text


def record_consent(
    phone_number: PhoneLike,
    consents: Mapping[str, object],
    *,
    verification: Verification | None = None,
    action: str = ConsentRecord.Action.GIVEN,
    method: str = ConsentRecord.Method.API,
    ip: str | None = None,
    user_agent: str = "",
    recorded_by: str = "",
    supersedes: ConsentRecord | None = None,
    created_at: dt.datetime | None = None,
) -> ConsentRecord:
    """Append a consent record: the flags, and the proof of how and when they were collected
    (signed and chained: see ``proofs``), with the notice text the person was shown.

    ``consents`` are checked (``InvalidConsents``) unless they are ``ConsentFlags`` already.
    """
    language = translation.get_language() or ""
    notice = NoticeText.shown(app_settings.NOTICE_VERSION, language, notice_text(language))
    record = ConsentRecord(
        phone_number=phone_text(phone_number),
        action=action,
        verification=verification,
        supersedes=supersedes,
        created_at=created_at or timezone.now(),
        ip=ip,
        user_agent=user_agent[:512],
        method=method,
        notice_version=notice.version,
        language=notice.language,
        notice=notice,
        controller=app_settings.CONTROLLER,
        purpose=app_settings.CONSENT_PURPOSE,
        recorded_by=recorded_by,
        **as_flags(consents),
    )
    record.save()
    withdrawn = action == ConsentRecord.Action.WITHDRAWN
    signal = signals.consent_withdrawn if withdrawn else signals.consent_recorded
    signals.send_on_commit(signal, ConsentRecord, record=record)
    return record


def withdraw_consent(
    phone_number: PhoneLike,
    channels: Iterable[str] | None = None,
    *,
    method: str = ConsentRecord.Method.FORM,
    recorded_by: str = "",
    ip: str | None = None,
    user_agent: str = "",
) -> ConsentRecord:
    """Withdraw some consent keys (all when ``channels`` is None) of a phone's current consent.

    Never touches the existing records: appends a ``withdrawn`` record that supersedes the
    current one.
    """
    phone_number = phone_text(phone_number)
    with transaction.atomic():
        current = ConsentRecord.objects.current_for(phone_number)
        return record_consent(
            phone_number,
            without(current.flags if current else {}, channels),
            action=ConsentRecord.Action.WITHDRAWN,
            method=method,
            ip=ip,
            user_agent=user_agent,
            recorded_by=recorded_by,
            supersedes=current,
        )


def verification_consent(verification: Verification) -> ConsentRecord | None:
    """The consents given with a verification: its latest record (the one made when the code
    was asked for, or a later one if the signup's boxes changed)."""
    return verification.consent_records.order_by("-created_at", "-id").first()


def current_consent(phone_number: PhoneLike) -> ConsentRecord | None:
    """The consent in force for a phone: its latest proven record (see ``in_force``)."""
    return ConsentRecord.objects.current_for(phone_text(phone_number))
