"""What is kept, and for how long; what is held about a number.

``purge``: verifications older than ``VERIFICATION_RETENTION`` are deleted with their delivery
events (raw provider payloads); one a consent record points to is the proof of that record, so
it is kept with its proof fields only (number, provider, reference, status, dates) and loses the
rest (IP, user agent, code hash, events). Consent records themselves are never touched. Identity
prefills past ``PREFILL_RETENTION`` lose their identity data (the row stays, masked, for the
statistics), and are deleted once as old as a purged verification. One function for every
retention rule: ``manage.py phone_verify_purge`` and the ``purge_expired_data`` task run it.

``subject_data``: everything held about one number, for a subject access request.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from .conf import app_settings
from .models import ConsentEcho, ConsentRecord, DeliveryEvent, IdentityPrefill, Verification
from .phones import mask_phone


def purge(*, dry_run: bool = False, now: dt.datetime | None = None) -> dict[str, int]:
    """Apply the retention periods; answer what was (with ``dry_run``: would be) removed."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=app_settings.VERIFICATION_RETENTION)
    old = Verification.objects.filter(created_at__lt=cutoff)
    proofs = old.filter(pk__in=ConsentRecord.objects.values("verification"))
    unneeded = old.exclude(pk__in=proofs.values("pk"))
    reducible = proofs.exclude(ip=None, user_agent="", code_hash="")
    events = DeliveryEvent.objects.filter(verification__in=old.values("pk"))
    prefills = IdentityPrefill.objects.filter(created_at__lt=cutoff)
    identities = IdentityPrefill.objects.filter(
        created_at__lt=now - dt.timedelta(seconds=app_settings.PREFILL_RETENTION),
        purged_at__isnull=True,
    ).exclude(pk__in=prefills.values("pk"))
    if dry_run:
        return {
            "verifications_deleted": unneeded.count(),
            "verifications_reduced_to_proof": reducible.count(),
            "delivery_events_deleted": events.count(),
            "identity_prefills_blanked": identities.count(),
            "identity_prefills_deleted": prefills.count(),
        }
    # The writes say what they did: no count first (this runs every 15 minutes, over the
    # verifications kept as proofs, which only grow).
    with transaction.atomic():
        events_deleted = _deleted(events.delete(), DeliveryEvent)
        reduced = reducible.update(ip=None, user_agent="", code_hash="")
        verifications_deleted = _deleted(unneeded.delete(), Verification)
        prefills_deleted = _deleted(prefills.delete(), IdentityPrefill)
        blanked = 0
        for prefill in identities.iterator():
            _blank(prefill, now)
            blanked += 1
    return {
        "verifications_deleted": verifications_deleted,
        "verifications_reduced_to_proof": reduced,
        "delivery_events_deleted": events_deleted,
        "identity_prefills_blanked": blanked,
        "identity_prefills_deleted": prefills_deleted,
    }


def _deleted(outcome: tuple[int, dict[str, int]], model: type[models.Model]) -> int:
    """The rows of ``model`` a ``QuerySet.delete()`` removed (not those of cascades)."""
    return outcome[1].get(model._meta.label, 0)


def _blank(prefill: IdentityPrefill, now: dt.datetime) -> None:
    """Keep the row (status, operator, error: no personal data) for the statistics."""
    prefill.phone_number = mask_phone(prefill.phone_number)
    prefill.data = None
    prefill.dqe_token = ""
    prefill.operator_url = ""
    prefill.session_hash = ""
    if prefill.status == IdentityPrefill.Status.PENDING:
        prefill.status, prefill.error = IdentityPrefill.Status.ERROR, "token_expired"
    prefill.purged_at = now
    prefill.save()


def _fields(obj: models.Model, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        field.attname: getattr(obj, field.attname)
        for field in obj._meta.concrete_fields
        if field.attname not in leave_out
    }


# Secrets of ours, not data about the person: never exported.
SECRET_FIELDS = ("code_hash", "dqe_token", "session_hash", "poll_lease_until")


def subject_data(e164: str) -> dict[str, Any]:
    """Every row held about the number ``e164``, as plain values (JSON-ready with Django's
    encoder)."""
    verifications = Verification.objects.filter(phone_number=e164).order_by("created_at")
    records = ConsentRecord.objects.filter(phone_number=e164).order_by("created_at", "id")
    return {
        "phone_number": e164,
        "verifications": [
            {
                **_fields(v, SECRET_FIELDS),
                "delivery_events": [_fields(e) for e in v.events.all()],
            }
            for v in verifications.prefetch_related("events")
        ],
        "consent_records": [
            {
                **_fields(r),
                "provider_echoes": [
                    _fields(e) for e in ConsentEcho.objects.filter(record=r).order_by("id")
                ],
            }
            for r in records
        ],
        "identity_prefills": [
            _fields(p, SECRET_FIELDS)
            for p in IdentityPrefill.objects.filter(phone_number=e164).order_by("created_at")
        ],
    }


__all__ = ["purge", "subject_data"]
