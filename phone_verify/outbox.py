"""The send outbox: the database, not the broker, is the record of which codes are owed.

A verification owes a send while ``send_due_at`` is set: the service that decides a send (first
send, resend, failover) sets it in the same transaction as the change that decided it, and hands
the send to the broker once that transaction commits (the fast path, ``jobs.on_commit``). The
send is done when a provider took it (``services.deliver_code``), failed for good, or became
stale; each clears ``send_due_at``.

If the fast path failed (broker down) or its message was lost with a worker, the dispatcher
(``dispatch_due_sends``: the ``dispatch_sends`` beat task, or ``manage.py phone_verify_dispatch``)
hands the send over again once ``send_due_at`` has passed, while its code can still be used.
Handing a send twice is harmless: the send task is idempotent under a row lock.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from . import jobs
from .conf import app_settings
from .models import DeliveryEvent, Verification
from .status import Status

logger = logging.getLogger("phone_verify")

SEND_JOB = "send_code"


def owe_send(verification: Verification, now: dt.datetime | None = None) -> None:
    """Record that send number ``verification.sends`` is owed, and hand it to the broker when
    the transaction commits. The caller saves ``send_due_at`` in that same transaction."""
    verification.send_due_at = (now or timezone.now()) + _redispatch_after()
    jobs.on_commit(SEND_JOB, verification.pk, verification.sends)


def postpone(verification_id: object, seconds: float) -> None:
    """A send task will try again in ``seconds``: keep the dispatcher off it until then."""
    Verification.objects.filter(pk=verification_id, send_due_at__isnull=False).update(
        send_due_at=timezone.now() + dt.timedelta(seconds=seconds) + _redispatch_after()
    )


def stale_reason(verification: Verification, send_number: int, now: dt.datetime) -> str:
    """Why send ``send_number`` must not go out any more ("" when it still may)."""
    if Status(verification.status).is_final:
        return "closed"
    if send_number < verification.sends:
        return "superseded"
    if verification.expires_at <= now:
        return "expired"
    return ""


def skip(verification: Verification, send_number: int, reason: str) -> None:
    """Give up send ``send_number`` without texting anything, and say why on the timeline.
    The caller holds the row and saves ``send_due_at``."""
    if send_number == verification.sends:
        verification.send_due_at = None
    DeliveryEvent.objects.create(**_skipped_event(verification, send_number, reason))
    logger.info("send %d of verification %s skipped: %s", send_number, verification.pk, reason)


def due_sends(now: dt.datetime) -> QuerySet[Verification]:
    """Owed sends the dispatcher may hand over again at ``now``, oldest first (served by the
    partial index ``pv_verif_send_due``, which holds owed sends only)."""
    return Verification.objects.filter(send_due_at__lte=now).order_by("send_due_at")


@dataclass(frozen=True)
class DispatchPass:
    handed: int = 0  # sends handed to the broker again
    skipped: int = 0  # owed sends given up: their verification ended or expired


def dispatch_due_sends(*, batch_size: int = 100, now: dt.datetime | None = None) -> DispatchPass:
    """One pass of the dispatcher: every owed send whose ``send_due_at`` has passed is handed to
    the broker again (and given a new ``send_due_at``), or skipped when its code can no longer
    be used. Rows are taken in batches with ``SELECT ... FOR UPDATE SKIP LOCKED``, so dispatchers
    running at once never take the same send, and a send whose task holds the row is left alone.
    """
    now = now or timezone.now()
    handed = skipped = 0
    while True:
        with transaction.atomic():
            rows = list(
                due_sends(now)
                .select_for_update(skip_locked=True)
                .only("pk", "sends", "status", "expires_at", "send_due_at", "provider")[:batch_size]
            )
            reasons = {row.pk: stale_reason(row, row.sends, now) for row in rows}
            live = [row for row in rows if not reasons[row.pk]]
            dead = [row for row in rows if reasons[row.pk]]
            if dead:
                DeliveryEvent.objects.bulk_create(
                    DeliveryEvent(**_skipped_event(row, row.sends, reasons[row.pk])) for row in dead
                )
                Verification.objects.filter(pk__in=[row.pk for row in dead]).update(
                    send_due_at=None
                )
            for row in _claim(live, now):
                jobs.on_commit(SEND_JOB, row.pk, row.sends)
                handed += 1
            skipped += len(dead)
        if len(rows) < batch_size:
            break
    if handed or skipped:
        logger.info("dispatcher: %d owed sends handed over again, %d skipped", handed, skipped)
    return DispatchPass(handed, skipped)


@dataclass(frozen=True)
class Backlog:
    """Owed sends not yet handed to a provider: how many, and how long the oldest has waited."""

    count: int
    oldest_requested_at: dt.datetime | None

    def oldest_age(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        if self.oldest_requested_at is None:
            return None
        return (now or timezone.now()) - self.oldest_requested_at


def backlog() -> Backlog:
    """The outbox at a glance (one query on the outbox index)."""
    row = Verification.objects.filter(send_due_at__isnull=False).aggregate(
        count=Count("pk"), oldest=Min("last_sent_at")
    )
    return Backlog(row["count"], row["oldest"])


def _claim(rows: list[Verification], now: dt.datetime) -> list[Verification]:
    """Move the rows' ``send_due_at`` on, and answer the rows this dispatcher now owns."""
    due = now + _redispatch_after()
    if connection.features.has_select_for_update_skip_locked:
        # The rows are locked by this transaction: no other dispatcher can have them.
        Verification.objects.filter(pk__in=[row.pk for row in rows]).update(send_due_at=due)
        return rows
    # No row locks (SQLite): a conditional update per row, so that of two dispatchers reading
    # the same row only the first to write it hands the send over.
    return [
        row
        for row in rows
        if Verification.objects.filter(pk=row.pk, send_due_at=row.send_due_at).update(
            send_due_at=due
        )
    ]


def _skipped_event(verification: Verification, send_number: int, reason: str) -> dict:
    return {
        "verification": verification,
        "kind": DeliveryEvent.Kind.SKIPPED,
        "provider": verification.provider,
        "provider_status": reason,
        "details": {"send_number": send_number, "reason": reason},
    }


def _redispatch_after() -> dt.timedelta:
    return dt.timedelta(seconds=app_settings.SEND_REDISPATCH_AFTER)
