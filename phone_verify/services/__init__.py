"""The verification and consent flows, as plain functions, one module per flow.

- ``verification``: start, resend, check, link the user, report a completion;
- ``delivery``: send a code (the send task), what a failed send does, failover;
- ``reports``: delivery reports, from webhooks and polls;
- ``consent``: append, withdraw and read consent records;
- ``timeline``: the status rule and the delivery events every flow writes.

Everything public is importable from here (``from phone_verify import services``,
``services.start_verification(...)``): that is the API; the modules are how it is kept.
"""

from __future__ import annotations

from .consent import current_consent, record_consent, verification_consent, withdraw_consent
from .delivery import deliver_code, send_failed
from .reports import apply_report, poll_delivery
from .verification import (
    LOCKED_REASON,
    check_code,
    get_verification,
    link_user,
    report_completion,
    resend,
    start_verification,
)

__all__ = [
    "LOCKED_REASON",
    "apply_report",
    "check_code",
    "current_consent",
    "deliver_code",
    "get_verification",
    "link_user",
    "poll_delivery",
    "record_consent",
    "report_completion",
    "resend",
    "send_failed",
    "start_verification",
    "verification_consent",
    "withdraw_consent",
]
