"""The one normalized lifecycle every provider maps onto, and the values passed between layers."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    """Lifecycle of a verification: ``pending -> sent -> delivered -> verified``, or an ending.

    Transitions only go forward (see ``advances``): a late or duplicated provider report never
    moves a verification backwards, and no report leaves an ending. Only the person's resend
    after a message that was not delivered starts a new send (``services.resend``).
    """

    PENDING = "pending", _("pending")
    SENT = "sent", _("sent")
    DELIVERED = "delivered", _("delivered")
    VERIFIED = "verified", _("verified")
    UNDELIVERABLE = "undeliverable", _("undeliverable")
    REJECTED = "rejected", _("rejected")
    EXPIRED = "expired", _("expired")
    FAILED = "failed", _("failed")

    @property
    def is_final(self) -> bool:
        return _RANK[self] == _FINAL_RANK

    def advances(self, new: Status) -> bool:
        """True when moving from this status to ``new`` is a step forward.

        This is the single place the monotonic rule lives: every status change goes through it.
        """
        return _RANK[Status(new)] > _RANK[self]

    def accepts_report(self, new: Status | None) -> bool:
        """True when a delivery report (callback or poll) saying ``new`` moves this status.

        Stricter than ``advances``: once the handset confirmed delivery, a report of failure
        (undeliverable, rejected, message expired) contradicts it and leaves it delivered.
        """
        if new is None:
            return False
        if self is Status.DELIVERED and Status(new) in _DELIVERY_FAILURES:
            return False
        return self.advances(new)


_FINAL_RANK = 3
_DELIVERY_FAILURES = {Status.UNDELIVERABLE, Status.REJECTED, Status.EXPIRED}
_RANK = {
    Status.PENDING: 0,
    Status.SENT: 1,
    Status.DELIVERED: 2,
    Status.VERIFIED: _FINAL_RANK,
    Status.UNDELIVERABLE: _FINAL_RANK,
    Status.REJECTED: _FINAL_RANK,
    Status.EXPIRED: _FINAL_RANK,
    Status.FAILED: _FINAL_RANK,
}


#: The reason a send answer or a delivery report ending in one of these statuses gives when the
#: provider says no more: a message that expired before delivery is not a code that expired.
DELIVERY_FAILURE_REASONS: dict[Status, str] = {
    Status.UNDELIVERABLE: "undeliverable",
    Status.REJECTED: "rejected",
    Status.EXPIRED: "message_expired",
}


#: Reasons of a message that did not reach the phone: the verification stays open for a new code
#: (through the next fallback provider, if any). Only a code that expired or was used up, a
#: refused number or a provider that cannot serve us closes a verification.
NOT_DELIVERED = frozenset(DELIVERY_FAILURE_REASONS.values())

#: The reason of a verification closed by too many wrong codes.
LOCKED_REASON = "too_many_attempts"

#: Refusals of the number itself (invalid, not a mobile, country not served): another provider
#: would refuse it too, so these never fail over.
NUMBER_REFUSALS = frozenset({"invalid_phone_number", "invalid_country", "not_mobile"})


def report_reason(status: Status | None, reason: str = "") -> str:
    """The verification's reason when a send answer or report ends it in ``status``: the
    provider's own ``reason`` when it says more (a refused number, an empty account), else the
    status's (``provider_error`` for a failure the provider did not explain)."""
    if reason or status is None:
        return reason
    return DELIVERY_FAILURE_REASONS.get(Status(status), "provider_error")


class CheckOutcome(enum.StrEnum):
    """What a code check came to, as the service tells it to views and forms."""

    VERIFIED = "verified"
    INVALID = "invalid_code"  # wrong code; counted as an attempt
    LOCKED = "too_many_attempts"
    EXPIRED = "expired"
    ALREADY_VERIFIED = "already_verified"
    NOT_DELIVERED = "not_delivered"  # the message never reached the phone: ask for a new code
    UNAVAILABLE = "verification_failed"  # ended: number refused, provider failed


class Verdict(enum.StrEnum):
    """A provider's answer to "is this code right?" for providers that keep the code themselves."""

    VALID = "valid"
    INVALID = "invalid"
    EXPIRED = "expired"
    LOCKED = "locked"  # the provider's own attempt limit was reached before ours


@dataclass(frozen=True)
class SendResult:
    """What a provider said when handed a code to send."""

    status: Status
    provider_reference: str = ""
    provider_status: str = ""
    expires_at: dt.datetime | None = None
    occurred_at: dt.datetime | None = None
    raw: Any = None
    reason: str = ""  # when the status is an ending and the provider says why (report_reason)
    # The provider's id of the message itself, when delivery reports name it rather than
    # ``provider_reference`` (Fortytwo's message_id; the reference is the client_ref checks use).
    message_id: str = ""
    # The consent flags as the provider echoed them back (our keys), when it does (DQE).
    consent_echo: dict[str, bool] | None = None


@dataclass(frozen=True)
class StatusReport:
    """One delivery report from a provider: a send answer, a callback or a poll."""

    provider_reference: str
    status: Status | None  # None: the provider's value maps to no change
    provider_status: str = ""
    occurred_at: dt.datetime | None = None
    raw: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    reason: str = ""  # when the status is an ending and the provider says why (report_reason)
    # Our own reference of the message when the report carries it beside the provider's
    # (Fortytwo's client_ref): what finds the verification when ``provider_reference`` is a
    # message id we never learned.
    own_reference: str = ""


@dataclass(frozen=True)
class CheckResult:
    """The outcome of ``services.check_code``."""

    outcome: CheckOutcome
    verification: Any  # models.Verification; Any to keep this module free of the ORM
    attempts_left: int

    @property
    def verified(self) -> bool:
        return self.outcome is CheckOutcome.VERIFIED
