"""Sending a code: the provider call the send task runs, what its answer changes, and failover
(the next provider when a send fails or a message is not delivered)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone, translation

from .. import jobs, outbox
from ..codes import generate_code, hash_code
from ..conf import app_settings
from ..exceptions import ProviderError
from ..models import ConsentEcho, ConsentRecord, DeliveryEvent, Verification
from ..providers.base import OutgoingCode
from ..providers.registry import get_provider, providers_in_use
from ..status import NUMBER_REFUSALS, SendResult, Status, StatusReport, report_reason
from .consent import verification_consent
from .timeline import STATUS_FIELDS, UNSETTLED, add_event, change_status

logger = logging.getLogger("phone_verify")


def deliver_code(verification_id: object, send_number: int, *, final_attempt: bool = True) -> None:
    """Send code number ``send_number`` of a verification (what the send task runs).

    Idempotent: a send already done does nothing; a stale one (superseded by a later resend, or
    for a verification that ended or expired) texts nothing and says why on the timeline. The
    row stays locked during the provider call, so two workers can never send the same code
    twice. A retryable provider fault is raised for the task to retry unless ``final_attempt``;
    any other failure is recorded on the verification.
    """
    try:
        with transaction.atomic():
            verification = (
                Verification.objects.select_for_update().filter(pk=verification_id).first()
            )
            if verification is None:
                logger.warning("send for unknown verification %s skipped", verification_id)
                return
            if verification.sends_done >= send_number:
                return  # handed to the provider already: a message delivered twice
            stale = outbox.stale_reason(verification, send_number, timezone.now())
            if stale:
                outbox.skip(verification, send_number, stale)
                verification.save(update_fields=["send_due_at"])
                return
            provider = get_provider(verification.provider)
            record = verification_consent(verification) if provider.sends_consents else None
            code = None if provider.generates_code else generate_code(app_settings.CODE_LENGTH)
            result = provider.send(
                OutgoingCode(
                    verification_id=verification.pk,
                    phone_number=verification.phone_number,
                    country=verification.country,
                    send_number=send_number,
                    lifetime=max(
                        1, int((verification.expires_at - timezone.now()).total_seconds())
                    ),
                    code=code,
                    consents=record.flags if record else {},
                    language=translation.get_language() or "",
                    ip=verification.ip,
                    fallback=verification.provider != app_settings.PROVIDER,
                )
            )
            _record_send(verification, send_number, code, result)
            if provider.polls_status and verification.status in UNSETTLED:
                jobs.on_commit("poll_status", verification.pk)
            if record is not None and result.consent_echo is not None:
                _record_echo(record, verification.provider, result.consent_echo)
    except ProviderError as error:
        if error.retryable and not final_attempt:
            raise
        send_failed(verification_id, send_number, error)


def send_failed(verification_id: object, send_number: int, error: ProviderError) -> None:
    """A send failed for good (refused, or out of retries): hand it to the next fallback
    provider if no code went out yet, else end the verification unless an earlier code is out.

    The failure is kept on the timeline either way, with the fallback it led to.
    """
    reason = "provider_unavailable" if error.retryable else error.code
    logger.error(
        "send for verification %s failed at %s: %s (%s %s)",
        verification_id,
        error.provider,
        reason,
        error.provider_code,
        error.detail,
    )
    with transaction.atomic():
        verification = Verification.objects.select_for_update().filter(pk=verification_id).first()
        if verification is None:
            return
        nothing_out = verification.sends_done == 0 and not Status(verification.status).is_final
        fallback = (
            failover_to(verification.provider, reason)
            if nothing_out and send_number == verification.sends
            else None
        )
        applied = False
        if fallback:
            # Checks follow: they go to the provider that sent the latest code.
            verification.provider, verification.provider_reference = fallback, ""
            outbox.owe_send(verification)
            verification.save(update_fields=["provider", "provider_reference", "send_due_at"])
            logger.warning("verification %s fails over to %s", verification.pk, fallback)
        else:
            if send_number == verification.sends:
                verification.send_due_at = None  # this send is over: nothing more is owed
            if nothing_out:
                applied = change_status(verification, Status(error.status), reason=reason)
            verification.save(update_fields=STATUS_FIELDS)
        report = StatusReport(
            provider_reference=verification.provider_reference,
            status=Status(error.status),
            provider_status=str(error.provider_code or reason),
            raw=error.response,
            extra={"reason": reason, "failover_to": fallback} if fallback else {},
        )
        add_event(verification, DeliveryEvent.Kind.SEND, error.provider, report, applied)


def failover_to(provider: str, reason: str) -> str | None:
    """The one failover rule, for every path (a send refused or faulty, a send answer or a
    later report saying the message was not delivered): the next of PROVIDER +
    FALLBACK_PROVIDERS after ``provider``, unless ``reason`` is a refusal of the number itself
    (invalid, not a mobile, country not served), which another provider would refuse too. The
    callers apply it only while no code was delivered."""
    if reason in NUMBER_REFUSALS:
        return None
    chain = providers_in_use()
    later = chain[chain.index(provider) + 1 :] if provider in chain else []
    return later[0] if later else None


def reopen(verification: Verification) -> None:
    """A message that was not delivered closes nothing: the next code is a new send, through
    the next provider when the failover rule names one (kept on the timeline). The caller
    saves."""
    failed, reason = verification.provider, verification.reason
    fallback = failover_to(failed, reason)
    verification.status, verification.reason = Status.PENDING, ""
    if fallback:
        verification.provider, verification.provider_reference = fallback, ""
        logger.warning("verification %s fails over to %s (%s)", verification.pk, fallback, reason)
    report = StatusReport(
        provider_reference=verification.provider_reference,
        status=None,
        provider_status=reason,
        extra={"reason": reason, "failover_to": fallback} if fallback else {"reason": reason},
    )
    add_event(verification, DeliveryEvent.Kind.SEND, failed, report, True)


def _record_send(
    verification: Verification, send_number: int, code: str | None, result: SendResult
) -> None:
    verification.sends_done = send_number
    verification.send_due_at = None  # handed over: the outbox owes nothing more
    if result.provider_reference:
        verification.provider_reference = result.provider_reference
    if result.expires_at and result.expires_at < verification.expires_at:
        verification.expires_at = result.expires_at
    change_status(verification, result.status, reason=report_reason(result.status, result.reason))
    # After change_status: a send that ends the verification must not leave a usable hash.
    verification.code_hash = (
        hash_code(verification.pk, code)
        if code and not Status(verification.status).is_final
        else ""
    )
    verification.polls = 0  # POLL_MAX counts per code
    verification.save(
        update_fields=["sends_done", "provider_reference", "expires_at", "polls", *STATUS_FIELDS]
    )
    report = StatusReport(
        # the message id when there is one: that is what delivery reports name
        provider_reference=result.message_id or result.provider_reference,
        status=result.status,
        provider_status=result.provider_status,
        occurred_at=result.occurred_at,
        raw=result.raw,
    )
    add_event(verification, DeliveryEvent.Kind.SEND, verification.provider, report, True)
    logger.info(
        "code %d of verification %s handed to %s for %s: %s",
        send_number,
        verification.pk,
        verification.provider,
        verification.masked_phone,
        result.status,
    )


def _record_echo(record: ConsentRecord, provider: str, echo: Mapping[str, bool]) -> None:
    """Keep the flags a provider echoed back beside the record; flag and log a mismatch."""
    matches = all(record.flags.get(key) == value for key, value in echo.items())
    ConsentEcho.objects.create(
        record=record, provider=provider, channels=dict(echo), matches=matches
    )
    if not matches:
        logger.warning(
            "%s echoed consents %s for %s, which differ from the record %s",
            provider,
            dict(echo),
            record.masked_phone,
            {k: record.flags[k] for k in echo},
        )
