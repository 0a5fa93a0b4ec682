"""The verification and consent flows, as plain functions.

Views, forms, tasks, webhooks and admin actions call these; none of them re-implements a rule.
Transactions and row locks live here.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone, translation

from . import jobs, limits, outbox, pumping, signals
from .codes import code_matches, generate_code, hash_code
from .conf import app_settings
from .consents import clean_consents, notice_text, without
from .exceptions import (
    InvalidCodeFormat,
    ProviderError,
    ResendTooSoon,
    TooManySends,
    VerificationClosed,
    VerificationNotFound,
)
from .models import ConsentEcho, ConsentRecord, DeliveryEvent, NoticeText, Verification
from .phones import PhoneLike, country_bucket, parse_phone, phone_text
from .providers.base import OutgoingCode
from .providers.registry import get_provider, providers_in_use
from .session import remember, remembers
from .status import (
    NOT_DELIVERED,
    NUMBER_REFUSALS,
    CheckOutcome,
    CheckResult,
    SendResult,
    Status,
    StatusReport,
    Verdict,
    report_reason,
)

logger = logging.getLogger("phone_verify")

LOCKED_REASON = "too_many_attempts"


# --- verification -------------------------------------------------------------------------


def start_verification(
    phone_number: PhoneLike,
    *,
    country: str | None = None,
    consents: Mapping[str, object] | None = None,
    ip: str | None = None,
    user_agent: str = "",
    user: Any = None,
    purpose: str = "signup",
    method: str = ConsentRecord.Method.API,
    session: MutableMapping[str, Any] | None = None,
    with_consent: bool = True,
) -> Verification:
    """Create a verification and its consent record, and have the first code sent.

    ``phone_number`` is a string or a ``PhoneNumber`` (django-phonenumber-field's, or any
    ``phonenumbers.PhoneNumber``). ``with_consent=False`` proves possession only (a login's
    second factor): no consent record is written, so the phone's current consent stays as it is.

    Raises ``InvalidPhoneNumber`` / ``InvalidConsents`` (or a provider's refusal) before anything
    is stored. With a browser ``session`` (one that has a key), the verification is bound to it:
    see ``get_verification``. The send is recorded in the outbox with the verification and
    handed to the broker when the transaction commits, so a rollback never sends an SMS and a
    broker outage loses nothing.
    """
    parsed = parse_phone(phone_number, country)
    flags = clean_consents(consents)
    provider = get_provider()
    provider.validate_request(parsed.e164, flags)
    _count_send(parsed.e164, parsed.country, ip)
    now = timezone.now()
    with transaction.atomic():
        verification = Verification(
            phone_number=parsed.e164,
            country=parsed.country,
            provider=provider.name,
            created_at=now,
            last_sent_at=now,
            expires_at=now + dt.timedelta(seconds=app_settings.CODE_LIFETIME),
            ip=ip,
            user_agent=user_agent[:512],
            user=user if getattr(user, "is_authenticated", False) else None,
            purpose=purpose,
            session_bound=bool(getattr(session, "session_key", None)),
        )
        outbox.owe_send(verification, now)  # send 1, saved with the verification
        verification.save(force_insert=True)
        if with_consent:
            record_consent(
                parsed.e164,
                flags,
                verification=verification,
                method=method,
                ip=ip,
                user_agent=user_agent,
                created_at=now,
            )
    if verification.session_bound:
        remember(session, "verifications", verification.pk)  # type: ignore[arg-type]
    logger.info("verification %s started for %s", verification.pk, verification.masked_phone)
    return verification


def get_verification(
    verification_id: object, *, session: MutableMapping[str, Any] | None = None
) -> Verification:
    """The verification with this id; ``VerificationNotFound`` for unknown or malformed ids, and,
    for a client's request (its ``session``), for one bound to another browser session: an id
    someone else started answers exactly as an id that does not exist (nothing to learn by
    trying ids). Without a session the caller is the app itself (a task): no binding applies."""
    return _find(Verification.objects.all(), verification_id, session)


def resend(
    verification_id: object,
    *,
    ip: str | None = None,
    session: MutableMapping[str, Any] | None = None,
) -> Verification:
    """Send a new code for an open verification (cooldown, send cap and rate limits apply)."""
    with transaction.atomic():
        verification = _find(Verification.objects.select_for_update(), verification_id, session)
        now = timezone.now()
        if not verification.is_open(now):
            raise VerificationClosed()
        if verification.sends >= app_settings.MAX_SENDS:
            raise TooManySends()
        available_at = verification.resend_available_at
        if available_at and available_at > now:
            raise ResendTooSoon(retry_after=math.ceil((available_at - now).total_seconds()))
        _count_send(verification.phone_number, verification.country, ip, new=False)
        if verification.not_delivered:
            _reopen(verification)
        verification.sends += 1
        verification.last_sent_at = now
        verification.expires_at = now + dt.timedelta(seconds=app_settings.CODE_LIFETIME)
        outbox.owe_send(verification, now)
        verification.save(
            update_fields=[
                "sends",
                "last_sent_at",
                "expires_at",
                "provider",
                "provider_reference",
                *_STATUS_FIELDS,
            ]
        )
    return verification


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
            record = _latest_consent(verification) if provider.sends_consents else None
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
            if provider.polls_status and verification.status in _UNSETTLED:
                jobs.on_commit("poll_status", verification.pk)
            if record is not None and result.consent_echo is not None:
                _record_echo(record, verification.provider, result.consent_echo)
    except ProviderError as error:
        if error.retryable and not final_attempt:
            raise
        send_failed(verification_id, send_number, error)


def check_code(
    verification_id: object,
    code: str,
    *,
    ip: str | None = None,
    session: MutableMapping[str, Any] | None = None,
) -> CheckResult:
    """Check a code typed by the user.

    Locks the row, refuses expired and locked verifications without evaluating anything, counts
    the attempt *before* evaluating it (so no guess is ever evaluated past the limit), and makes
    a verified code single-use. A malformed code raises ``InvalidCodeFormat`` and costs nothing.
    """
    max_attempts = app_settings.MAX_CHECK_ATTEMPTS
    with transaction.atomic():
        verification = _find(Verification.objects.select_for_update(), verification_id, session)
        provider = get_provider(verification.provider)
        if not provider.code_is_well_formed(code):
            raise InvalidCodeFormat()
        now = timezone.now()

        def result(outcome: CheckOutcome) -> CheckResult:
            return CheckResult(outcome, verification, max(0, max_attempts - verification.attempts))

        status = Status(verification.status)
        if status is Status.VERIFIED:
            return result(CheckOutcome.ALREADY_VERIFIED)
        if verification.reason == LOCKED_REASON or verification.attempts >= max_attempts:
            return result(CheckOutcome.LOCKED)
        if verification.not_delivered:
            return result(CheckOutcome.NOT_DELIVERED)  # nothing to check: no code arrived
        if verification.effective_status(now) is Status.EXPIRED:
            _change_status(verification, Status.EXPIRED, reason="expired")
            verification.save(update_fields=_STATUS_FIELDS)
            return result(CheckOutcome.EXPIRED)
        if status.is_final:
            return result(CheckOutcome.UNAVAILABLE)

        # Counted before the guess is evaluated. A guess costs the client that makes it (its
        # address here, and this verification's attempts, which only its session can reach),
        # never the number: a stranger's wrong guesses must not lock the owner out. Guesses on
        # one number are bounded by the sends to it (limits.guessing_bound).
        limits.hit("check_per_ip_hour", ip)
        verification.attempts += 1
        if provider.generates_code:
            try:
                verdict = provider.check(
                    verification.provider_reference, verification.phone_number, code
                )
            except ProviderError as error:
                if error.retryable:
                    raise  # nothing evaluated: the attempt is rolled back, the user may retry
                logger.error(
                    "%s refused the check of verification %s: %s (%s)",
                    provider.name,
                    verification.pk,
                    error.code,
                    error.provider_code,
                )
                verification.attempts -= 1
                _change_status(verification, Status(error.status), reason=error.code)
                verification.save(update_fields=_STATUS_FIELDS)
                return result(CheckOutcome.UNAVAILABLE)
        else:
            matches = code_matches(verification.pk, code, verification.code_hash)
            verdict = Verdict.VALID if matches else Verdict.INVALID

        if verdict is Verdict.VALID:
            _change_status(verification, Status.VERIFIED)
            outcome = CheckOutcome.VERIFIED
            phone = verification.phone_number
            transaction.on_commit(lambda: pumping.count_verified(phone), robust=True)
            if provider.reports_completion:
                jobs.on_commit("report_completion", verification.pk)
        elif verdict is Verdict.EXPIRED:
            _change_status(verification, Status.EXPIRED, reason="expired")
            outcome = CheckOutcome.EXPIRED
        elif verdict is Verdict.LOCKED or verification.attempts >= max_attempts:
            _change_status(verification, Status.FAILED, reason=LOCKED_REASON)
            outcome = CheckOutcome.LOCKED
        else:
            outcome = CheckOutcome.INVALID
        verification.save(update_fields=["attempts", *_STATUS_FIELDS])
    logger.info(
        "code check for verification %s (%s): %s",
        verification.pk,
        verification.masked_phone,
        outcome,
    )
    return result(outcome)


def apply_report(report: StatusReport, *, provider: str, kind: str) -> Verification | None:
    """Apply a provider's delivery report (callback or poll) and keep it as a DeliveryEvent.

    Reports only move a verification forward: one that does not (late, or older than the last
    report applied) is stored with ``applied=False`` and changes nothing; a replay of a report
    already stored (same reference, provider status and time, or both without a time) is
    dropped. The report's reference
    may be the verification's current one, or any a send of it was given (an earlier send's, a
    message id). A report for an unknown reference is logged and dropped (None).
    """
    # No savepoint when nested (a webhook stores its reports all or none): a failure here
    # fails the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        verification = _find_by_reference(provider, report.provider_reference) or (
            _find_by_reference(provider, report.own_reference)
        )
        if verification is None:
            logger.warning(
                "%s report for unknown reference %r", provider, report.provider_reference
            )
            return None
        # The same event twice (same reference, status and time, or both without a time, as
        # TeleSign's unsigned-time callbacks come) is a replay.
        if verification.events.filter(
            provider_reference=report.provider_reference,
            provider_status=str(report.provider_status)[:64],
            **(
                {"occurred_at": report.occurred_at}
                if report.occurred_at is not None
                else {"occurred_at__isnull": True}
            ),
        ).exists():
            logger.info("%s report replayed for %s: dropped", provider, verification.pk)
            return verification
        if report.occurred_at is not None:
            newest = (
                verification.events.filter(occurred_at__isnull=False, applied=True)
                .order_by("-occurred_at")
                .first()
            )
            stale = newest is not None and newest.occurred_at > report.occurred_at
        else:
            stale = False
        applied = (
            not stale
            and Status(verification.status).accepts_report(report.status)
            and _change_status(
                verification, report.status, reason=report_reason(report.status, report.reason)
            )
        )
        if applied:
            verification.save(update_fields=_STATUS_FIELDS)
        _add_event(verification, kind, provider, report, applied)
    return verification


# --- consent ------------------------------------------------------------------------------


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
    (signed and chained: see ``proofs``), with the notice text the person was shown."""
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
        **clean_consents(consents),
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


def current_consent(phone_number: PhoneLike) -> ConsentRecord | None:
    """The consent in force for a phone: its latest proven record (see ``in_force``)."""
    return ConsentRecord.objects.current_for(phone_text(phone_number))


# --- internals ----------------------------------------------------------------------------

_STATUS_FIELDS = ["status", "reason", "verified_at", "code_hash", "send_due_at"]


def _find(
    queryset: Any, verification_id: object, session: MutableMapping[str, Any] | None = None
) -> Verification:
    """The one lookup by id: unknown, malformed and (for a client's ``session``) foreign ids
    all raise the same error."""
    try:
        pk = (
            verification_id
            if isinstance(verification_id, uuid.UUID)
            else uuid.UUID(str(verification_id))
        )
        verification = queryset.get(pk=pk)
    except (ValueError, Verification.DoesNotExist):
        raise VerificationNotFound() from None
    if (
        session is not None
        and verification.session_bound
        and not remembers(session, "verifications", verification.pk)
    ):
        raise VerificationNotFound()
    return verification


def poll_delivery(verification_id: object) -> bool:
    """Ask the provider for the delivery status of a verification's current code, once.

    Only one poll of a verification is ever in flight: a poll first takes a lease on the row
    (an atomic conditional update), and a poll that cannot get it does nothing. The provider is
    called outside any transaction, so checks and callbacks are never kept waiting. Answers
    whether another poll should follow: delivery not settled yet (pending or sent), fewer than
    ``POLL_MAX`` polls of this code, and the code not expired.
    """
    now = timezone.now()
    lease = now + dt.timedelta(seconds=_poll_lease_seconds())
    claimed = (
        Verification.objects.filter(pk=verification_id, sends_done__gt=0)
        .filter(status__in=_UNSETTLED)
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))
        .filter(polls__lt=app_settings.POLL_MAX, expires_at__gt=now)
        .update(poll_lease_until=lease, polls=F("polls") + 1)
    )
    if not claimed:
        return False
    verification = Verification.objects.get(pk=verification_id)
    provider = get_provider(verification.provider)
    try:
        report = provider.poll(verification.provider_reference)
    except ProviderError as error:
        logger.warning("poll of verification %s failed: %s", verification.pk, error.code)
        report = None
    finally:
        Verification.objects.filter(pk=verification_id).update(poll_lease_until=None)
    if report is not None:
        # The row as apply_report left it (read under its lock), or as read after the claim:
        # reading it again would only catch a change made since, which its own poll covers
        # (a resend polls its code; a later report settles what the next poll's claim sees).
        verification = apply_report(report, provider=provider.name, kind=DeliveryEvent.Kind.POLL)
        verification = verification or Verification.objects.get(pk=verification_id)
    return (
        verification.status in _UNSETTLED
        and verification.polls < app_settings.POLL_MAX
        and verification.expires_at > timezone.now()
    )


def link_user(verification_id: object, user: Any) -> None:
    """Tie a verified verification to the user whose phone it proved; a verification proves
    one account only (``VerificationClosed`` if it is already tied or not verified)."""
    linked = Verification.objects.filter(
        pk=verification_id, status=Status.VERIFIED, user__isnull=True
    ).update(user=user)
    if not linked:
        raise VerificationClosed()


def report_completion(verification_id: object) -> None:
    """Tell the provider a code we generated was entered right (TeleSign's completion).

    A retryable provider fault is raised for the task to retry; a refusal is logged: the
    verification is done either way.
    """
    verification = get_verification(verification_id)
    try:
        get_provider(verification.provider).report_completion(verification.provider_reference)
    except ProviderError as error:
        if error.retryable:
            raise
        logger.error(
            "completion of verification %s refused by %s: %s (%s)",
            verification.pk,
            error.provider,
            error.code,
            error.provider_code,
        )


# Delivery not settled: worth polling. Delivered and the endings are not.
_UNSETTLED = (Status.PENDING, Status.SENT)


def _poll_lease_seconds() -> float:
    """Longer than any one provider call can take (connect + read timeouts, with margin)."""
    timeout = app_settings.HTTP_TIMEOUT
    total = sum(timeout) if isinstance(timeout, list | tuple) else float(timeout)
    return 2 * total + 5


def _find_by_reference(provider: str, reference: str) -> Verification | None:
    if not reference:
        return None
    locked = Verification.objects.select_for_update(of=("self",)).filter(provider=provider)
    return (
        locked.filter(provider_reference=reference).first()
        or locked.filter(
            events__kind=DeliveryEvent.Kind.SEND, events__provider_reference=reference
        ).first()
    )


def _count_send(e164: str, country: str, ip: str | None, *, new: bool = True) -> None:
    """The pumping guard (which decides on pauses when a verification is ``new``), then the
    send rate limits, the caller's own budgets (its IP, then its sends to this number) first,
    then the number's, which needs several clients to exhaust."""
    pumping.check_open(e164, decide=new)
    limits.hit_all(
        [
            ("send_per_ip_hour", ip),
            ("send_per_phone_client_hour", f"{e164} {ip}" if ip else None),
            ("send_per_phone_hour", e164),
            ("send_per_prefix_hour", limits.number_range(e164)),
            ("send_per_country_day", country_bucket(e164, country)),
        ]
    )
    pumping.count_send(e164)


def _latest_consent(verification: Verification) -> ConsentRecord | None:
    return verification.consent_records.order_by("-created_at", "-id").first()


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


def _change_status(verification: Verification, new: Status | None, *, reason: str = "") -> bool:
    """Move ``verification`` to ``new`` if that is a step forward; say whether it moved.

    The caller saves. Signals go out when the transaction commits.
    """
    previous = Status(verification.status)
    if new is None or not previous.advances(new):
        return False
    new = Status(new)
    verification.status = new
    if new.is_final:
        verification.code_hash = ""  # single use: nothing left to match against
        verification.send_due_at = None  # a code owed for an ended verification is never sent
    if new is Status.VERIFIED:
        verification.verified_at = timezone.now()
    elif new.is_final:
        verification.reason = reason or new.value
    sender = Verification
    signals.send_on_commit(
        signals.delivery_status_changed,
        sender,
        verification=verification,
        status=new,
        previous_status=previous,
    )
    if new is Status.VERIFIED:
        signals.send_on_commit(signals.phone_verified, sender, verification=verification)
    elif new.is_final and verification.reason not in NOT_DELIVERED:
        # A message not delivered ends nothing yet: a new code may be asked for.
        signals.send_on_commit(
            signals.verification_failed,
            sender,
            verification=verification,
            reason=verification.reason,
        )
    return True


def _record_send(
    verification: Verification, send_number: int, code: str | None, result: SendResult
) -> None:
    verification.sends_done = send_number
    verification.send_due_at = None  # handed over: the outbox owes nothing more
    if result.provider_reference:
        verification.provider_reference = result.provider_reference
    if result.expires_at and result.expires_at < verification.expires_at:
        verification.expires_at = result.expires_at
    _change_status(verification, result.status, reason=report_reason(result.status, result.reason))
    # After _change_status: a send that ends the verification must not leave a usable hash.
    verification.code_hash = (
        hash_code(verification.pk, code)
        if code and not Status(verification.status).is_final
        else ""
    )
    verification.polls = 0  # POLL_MAX counts per code
    verification.save(
        update_fields=["sends_done", "provider_reference", "expires_at", "polls", *_STATUS_FIELDS]
    )
    report = StatusReport(
        # the message id when there is one: that is what delivery reports name
        provider_reference=result.message_id or result.provider_reference,
        status=result.status,
        provider_status=result.provider_status,
        occurred_at=result.occurred_at,
        raw=result.raw,
    )
    _add_event(verification, DeliveryEvent.Kind.SEND, verification.provider, report, True)
    logger.info(
        "code %d of verification %s handed to %s for %s: %s",
        send_number,
        verification.pk,
        verification.provider,
        verification.masked_phone,
        result.status,
    )


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
            _failover_to(verification.provider, reason)
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
                applied = _change_status(verification, Status(error.status), reason=reason)
            verification.save(update_fields=_STATUS_FIELDS)
        report = StatusReport(
            provider_reference=verification.provider_reference,
            status=Status(error.status),
            provider_status=str(error.provider_code or reason),
            raw=error.response,
            extra={"reason": reason, "failover_to": fallback} if fallback else {},
        )
        _add_event(verification, DeliveryEvent.Kind.SEND, error.provider, report, applied)


def _failover_to(provider: str, reason: str) -> str | None:
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


def _reopen(verification: Verification) -> None:
    """A message that was not delivered closes nothing: the next code is a new send, through
    the next provider when the failover rule names one (kept on the timeline). The caller
    saves."""
    failed, reason = verification.provider, verification.reason
    fallback = _failover_to(failed, reason)
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
    _add_event(verification, DeliveryEvent.Kind.SEND, failed, report, True)


def _add_event(
    verification: Verification, kind: str, provider: str, report: StatusReport, applied: bool
) -> DeliveryEvent:
    return DeliveryEvent.objects.create(
        verification=verification,
        kind=kind,
        provider=provider,
        provider_reference=report.provider_reference,
        provider_status=str(report.provider_status)[:64],
        status=report.status or "",
        applied=applied,
        occurred_at=report.occurred_at,
        raw=report.raw,
        details=report.extra,
    )


__all__ = [
    "apply_report",
    "check_code",
    "link_user",
    "current_consent",
    "deliver_code",
    "get_verification",
    "record_consent",
    "resend",
    "send_failed",
    "start_verification",
    "withdraw_consent",
]
