"""Signals for integrators. Each is sent after the transaction that caused it commits, so a
receiver never sees a change that was rolled back.

Receivers get ``sender`` (the model class) and the keyword arguments listed with each signal.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import Signal

#: A phone number was proven. kwargs: ``verification``.
phone_verified = Signal()
#: A verification ended without proof. kwargs: ``verification``, ``reason`` (machine code:
#: ``too_many_attempts``, ``expired``, ``rejected``, ``undeliverable``, a provider error code...).
verification_failed = Signal()
#: A provider report moved a verification forward. kwargs: ``verification``, ``status``,
#: ``previous_status``.
delivery_status_changed = Signal()
#: Consent was given (a new record). kwargs: ``record``.
consent_recorded = Signal()
#: Consent was withdrawn (a new record superseding the previous one). kwargs: ``record``.
consent_withdrawn = Signal()
#: The pumping guard paused sends to a number range (sent at once, once per pause; sender
#: ``PausedPrefix``). kwargs: ``pause`` (the ``PausedPrefix``).
prefix_paused = Signal()


def send_on_commit(signal: Signal, sender: type, **kwargs: Any) -> None:
    """Send ``signal`` once the current transaction commits (at once outside a transaction).

    ``robust`` so that a failing receiver is logged instead of breaking the caller: the change
    it reports is already committed.
    """
    transaction.on_commit(lambda: signal.send_robust(sender=sender, **kwargs), robust=True)
