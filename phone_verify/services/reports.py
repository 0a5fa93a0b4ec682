"""Delivery reports, pushed (webhooks) or pulled (polls): they move a verification forward only,
and each is kept on its timeline."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..conf import app_settings
from ..exceptions import ProviderError
from ..models import DeliveryEvent, Verification
from ..providers.registry import get_provider
from ..status import Status, StatusReport, report_reason
from .timeline import STATUS_FIELDS, UNSETTLED, add_event, change_status

logger = logging.getLogger("phone_verify")


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
            and change_status(
                verification, report.status, reason=report_reason(report.status, report.reason)
            )
        )
        if applied:
            verification.save(update_fields=STATUS_FIELDS)
        add_event(verification, kind, provider, report, applied)
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
        .filter(status__in=UNSETTLED)
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
        verification.status in UNSETTLED
        and verification.polls < app_settings.POLL_MAX
        and verification.expires_at > timezone.now()
    )


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
