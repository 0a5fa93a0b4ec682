"""The verification flow: start, resend, check, and what follows a verified code.

Views, forms, tasks and admin actions call these; none of them re-implements a rule.
Transactions and row locks live here. Each input is checked once, where it enters: a
``ParsedPhone`` and ``ConsentFlags`` (what the form's fields make) are taken as they are.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from .. import jobs, limits, outbox, pumping
from ..codes import code_matches
from ..conf import app_settings
from ..consents import as_flags
from ..exceptions import (
    InvalidCodeFormat,
    ProviderError,
    ResendTooSoon,
    TooManySends,
    VerificationClosed,
    VerificationNotFound,
)
from ..models import ConsentRecord, Verification
from ..phones import ParsedPhone, PhoneLike, as_parsed, country_bucket
from ..providers.registry import get_provider
from ..session import remember, remembers
from ..status import LOCKED_REASON, CheckOutcome, CheckResult, Status, Verdict
from .consent import record_consent
from .delivery import reopen
from .timeline import STATUS_FIELDS, change_status

logger = logging.getLogger("phone_verify")


def start_verification(
    phone_number: PhoneLike | ParsedPhone,
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
    ``phonenumbers.PhoneNumber``), or a ``ParsedPhone`` checked already (then ``country`` is
    not needed). ``with_consent=False`` proves possession only (a login's
    second factor): no consent record is written, so the phone's current consent stays as it is.

    Raises ``InvalidPhoneNumber`` / ``InvalidConsents`` (or a provider's refusal) before anything
    is stored. With a browser ``session`` (one that has a key), the verification is bound to it:
    see ``get_verification``. The send is recorded in the outbox with the verification and
    handed to the broker when the transaction commits, so a rollback never sends an SMS and a
    broker outage loses nothing.
    """
    parsed = as_parsed(phone_number, country)
    flags = as_flags(consents)
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
            reopen(verification)
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
                *STATUS_FIELDS,
            ]
        )
    return verification


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
        if verification.is_locked:
            return result(CheckOutcome.LOCKED)
        if verification.not_delivered:
            return result(CheckOutcome.NOT_DELIVERED)  # nothing to check: no code arrived
        if verification.effective_status(now) is Status.EXPIRED:
            change_status(verification, Status.EXPIRED, reason="expired")
            verification.save(update_fields=STATUS_FIELDS)
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
                change_status(verification, Status(error.status), reason=error.code)
                verification.save(update_fields=STATUS_FIELDS)
                return result(CheckOutcome.UNAVAILABLE)
        else:
            matches = code_matches(verification.pk, code, verification.code_hash)
            verdict = Verdict.VALID if matches else Verdict.INVALID

        if verdict is Verdict.VALID:
            change_status(verification, Status.VERIFIED)
            outcome = CheckOutcome.VERIFIED
            phone = verification.phone_number
            transaction.on_commit(lambda: pumping.count_verified(phone), robust=True)
            if provider.reports_completion:
                jobs.on_commit("report_completion", verification.pk)
        elif verdict is Verdict.EXPIRED:
            change_status(verification, Status.EXPIRED, reason="expired")
            outcome = CheckOutcome.EXPIRED
        elif verdict is Verdict.LOCKED or verification.attempts >= max_attempts:
            change_status(verification, Status.FAILED, reason=LOCKED_REASON)
            outcome = CheckOutcome.LOCKED
        else:
            outcome = CheckOutcome.INVALID
        verification.save(update_fields=["attempts", *STATUS_FIELDS])
    logger.info(
        "code check for verification %s (%s): %s",
        verification.pk,
        verification.masked_phone,
        outcome,
    )
    return result(outcome)


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


def _count_send(e164: str, country: str, ip: str | None, *, new: bool = True) -> None:
    """The pumping guard (which decides on pauses when a verification is ``new``), then the
    send rate limits, the caller's own budgets (its IP, then its sends to this number) first,
    then the number's, which needs several clients to exhaust; the send counted for the guard
    with them, once they all pass."""
    guard_counts = pumping.check_open(e164, decide=new)
    limits.hit_all(
        [
            ("send_per_ip_hour", ip),
            ("send_per_phone_client_hour", f"{e164} {ip}" if ip else None),
            ("send_per_phone_hour", e164),
            ("send_per_prefix_hour", limits.number_range(e164)),
            ("send_per_country_day", country_bucket(e164, country)),
        ],
        record=guard_counts,
    )
