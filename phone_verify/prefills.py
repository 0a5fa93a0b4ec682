"""Identity prefill (DQE ID Mobile formfilling) as plain functions, like ``services``.

``start_prefill`` asks DQE for the operator's consent URL and stores a pending prefill; the
browser goes to the operator, comes back through ``prefill_returned`` with a session token;
``poll_prefill`` asks DQE for the data until it is no longer pending, bounded by the token's
lifetime; ``retention.purge`` blanks identity data past ``PREFILL_RETENTION``. A prefill is
readable only by the browser session that started it (``session_may_read``).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from collections.abc import MutableMapping
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from . import jobs, limits
from .conf import app_settings
from .exceptions import PhoneVerifyError, ProviderError, VerificationNotFound
from .models import IdentityPrefill
from .phones import PhoneLike, parse_phone
from .providers.dqe_idmobile import CONSENT_ERRORS, RETRIEVAL_ERRORS, IdMobile, IdMobileFailure
from .session import remember, remembers

logger = logging.getLogger("phone_verify")

MAX_POLL_INTERVAL = 15  # seconds; DQE suggests about 2
POLL_LEASE = dt.timedelta(seconds=60)


class PrefillNotConfigured(PhoneVerifyError):
    code = "prefill_unavailable"
    default_detail = _("Prefilling from your operator is not available.")
    http_status = 503


class PrefillNotFound(VerificationNotFound):
    default_detail = _("No such prefill.")


def id_mobile() -> IdMobile:
    """The DQE ID Mobile client, with the ``dqe`` provider options."""
    return IdMobile(app_settings.provider_options("dqe"))


def start_prefill(
    phone_number: PhoneLike,
    *,
    session: MutableMapping[str, Any],
    country: str | None = None,
    return_url: str = "/",
    ip: str | None = None,
) -> IdentityPrefill:
    """Ask DQE where the browser should go for the operator's consent; store the prefill.

    Raises ``InvalidPhoneNumber``, ``PrefillNotConfigured``, ``RateLimited`` (each prefill is
    a billable operator request: limited per client address, number and number range), or an
    ``IdMobileFailure`` (400 for the number, 503 for DQE's side) before anything is stored.
    """
    parsed = parse_phone(phone_number, country)
    client = id_mobile()
    if not client.configured:
        raise PrefillNotConfigured()
    limits.hit_all(
        [
            ("prefill_per_ip_hour", ip),
            ("prefill_per_phone_hour", parsed.e164),
            ("prefill_per_prefix_hour", limits.number_range(parsed.e164)),
        ]
    )
    prefill_id = uuid.uuid4()
    redirect_uri = str(app_settings.PUBLIC_URL).rstrip("/") + reverse(
        "phone_verify_api:prefill-return", kwargs={"pk": str(prefill_id)}
    )
    consent = client.request_consent(parsed.e164, redirect_uri)
    remember(session, "prefills", prefill_id)
    if hasattr(session, "save") and not getattr(session, "session_key", None):
        session.save()  # a new session gets its key now, for the hash below
    prefill = IdentityPrefill.objects.create(
        id=prefill_id,
        phone_number=parsed.e164,
        scope=client.scope,
        operator=consent.operator[:64],
        operator_url=consent.url,
        token_expires_at=consent.token_expires_at,
        return_url=return_url,
        session_hash=_session_hash(session),
    )
    logger.info(
        "prefill %s started for %s at %s", prefill.pk, prefill.masked_phone, consent.operator
    )
    return prefill


def get_prefill(prefill_id: object, session: MutableMapping[str, Any]) -> IdentityPrefill:
    """The prefill, for the session that started it only (others get ``PrefillNotFound``)."""
    if not remembers(session, "prefills", prefill_id):
        raise PrefillNotFound()
    prefill = IdentityPrefill.objects.filter(pk=prefill_id).first()
    if prefill is None:
        raise PrefillNotFound()
    return prefill


def prefill_returned(
    prefill_id: object, session: MutableMapping[str, Any], *, token: str, status: str
) -> IdentityPrefill:
    """The browser is back from the operator with DQE's session token: start polling.

    Only the first return counts; the poll starts once the transaction commits.
    """
    prefill = get_prefill(prefill_id, session)
    with transaction.atomic():
        updated = IdentityPrefill.objects.filter(
            pk=prefill.pk, status=IdentityPrefill.Status.PENDING, dqe_token=""
        ).update(dqe_token=token[:512], next_poll_at=timezone.now())
        if updated:
            logger.info("prefill %s: back from the operator (%s)", prefill.pk, status[:16])
            jobs.on_commit("poll_prefill", prefill.pk)
    prefill.refresh_from_db()
    return prefill


def poll_due(prefill: IdentityPrefill, now: dt.datetime | None = None) -> bool:
    """Whether a poll of this prefill may run now (a read may then trigger one)."""
    now = now or timezone.now()
    return (
        prefill.status == IdentityPrefill.Status.PENDING
        and bool(prefill.dqe_token)
        and (prefill.next_poll_at is None or prefill.next_poll_at <= now)
        and (prefill.poll_lease_until is None or prefill.poll_lease_until < now)
    )


def poll_prefill(prefill_id: object) -> float | None:
    """Ask DQE once for a pending prefill's data. Returns the seconds until the next poll is
    due, or None when the prefill is settled (or another poll holds it).

    One poll at a time (a lease taken by one conditional update); DQE is called outside any
    transaction. A pending answer, DQE's error 99 and network faults wait with exponential
    backoff; past the token's expiry the prefill ends ``token_expired``: never an endless poll.
    """
    now = timezone.now()
    pending = IdentityPrefill.objects.filter(pk=prefill_id, status=IdentityPrefill.Status.PENDING)
    if pending.filter(token_expires_at__lte=now).update(
        status=IdentityPrefill.Status.ERROR, error="token_expired", completed_at=now
    ):
        logger.warning("prefill %s: no answer before the token expired", prefill_id)
        return None
    claimed = (
        pending.exclude(dqe_token="")
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        .filter(Q(poll_lease_until__isnull=True) | Q(poll_lease_until__lt=now))
        .update(poll_lease_until=now + POLL_LEASE)
    )
    if not claimed:
        return None
    prefill = IdentityPrefill.objects.get(pk=prefill_id)
    prefill.polls += 1
    prefill.poll_lease_until = None
    fields = ["polls", "poll_lease_until", "next_poll_at", "status", "data", "completed_at"]
    fields += ["error", "error_id", "error_type"]
    try:
        answer = id_mobile().retrieve(prefill.dqe_token)
    except ProviderError as error:
        if not error.retryable:
            _fail(prefill, error)
            prefill.save(update_fields=fields)
            return None
        logger.warning("prefill %s: poll failed, will retry (%s)", prefill.pk, error.code)
    else:
        if answer.status == "success":
            prefill.status = IdentityPrefill.Status.SUCCESS
            prefill.data = answer.data
            prefill.completed_at = timezone.now()
            prefill.save(update_fields=fields)
            logger.info("prefill %s: identity data received", prefill.pk)
            return None
    delay = random.uniform(1, min(MAX_POLL_INTERVAL, 2**prefill.polls))
    prefill.next_poll_at = timezone.now() + dt.timedelta(seconds=delay)
    prefill.save(update_fields=fields)
    return delay


def _fail(prefill: IdentityPrefill, error: ProviderError) -> None:
    prefill.status = IdentityPrefill.Status.ERROR
    prefill.error = error.code
    if isinstance(error, IdMobileFailure):
        prefill.error_id, prefill.error_type = error.error_id[:8], error.error_type[:128]
    prefill.completed_at = timezone.now()
    logger.warning(
        "prefill %s ended in error: %s (%s)", prefill.pk, error.code, error.provider_code
    )


def error_detail(prefill: IdentityPrefill) -> str:
    """The message for the user of a prefill that ended in error."""
    for table in (RETRIEVAL_ERRORS, CONSENT_ERRORS):
        for error in table.values():
            if error.code == prefill.error:
                return str(error.message)
    return str(_("Prefilling from your operator did not work; fill in the form yourself."))


def _session_hash(session: MutableMapping[str, Any]) -> str:
    key = getattr(session, "session_key", None) or ""
    return salted_hmac("phone_verify.prefill.session", key).hexdigest() if key else ""


__all__ = [
    "get_prefill",
    "poll_due",
    "poll_prefill",
    "prefill_returned",
    "start_prefill",
]
