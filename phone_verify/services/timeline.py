"""A verification's steps forward and the timeline that keeps them: the one status rule and the
one way to write a ``DeliveryEvent``, for every flow (checks, sends, reports, failover)."""

from __future__ import annotations

from django.utils import timezone

from .. import signals
from ..models import DeliveryEvent, Verification
from ..status import NOT_DELIVERED, Status, StatusReport

#: The fields a status change touches: what a flow saves after ``change_status``.
STATUS_FIELDS = ["status", "reason", "verified_at", "code_hash", "send_due_at"]

#: Delivery not settled: worth polling. Delivered and the endings are not.
UNSETTLED = (Status.PENDING, Status.SENT)


def change_status(verification: Verification, new: Status | None, *, reason: str = "") -> bool:
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


def add_event(
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
