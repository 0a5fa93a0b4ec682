"""The pumping guard: pause sends to a number range whose codes are not being used.

SMS pumping (toll fraud) sends codes to numbers the attacker earns from, and never enters
them; real users enter theirs. So, as Twilio's Fraud Guard does, the guard counts per
destination range (country code plus the national number without its last
``PREFIX_TAIL_DIGITS`` digits: 10,000 numbers by default) the codes sent and the numbers
verified over a sliding ``WINDOW``, in the counter cache beside the rate limits. When a new
verification is asked for a range with at least ``MIN_SENDS`` sends in the window and a
conversion (verified / sent) below ``MIN_CONVERSION``, sends to that range are paused for
``PAUSE`` seconds: answered 429 ``suspected_fraud`` with ``Retry-After``. A range where people
complete their verifications is never paused by this rule.

One pause is decided once (an atomic ``add`` in the cache): that request alone logs it, records
it as a ``PausedPrefix`` for the admin (where staff can lift it) and sends ``prefix_paused``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import phonenumbers
from django.utils import timezone

from . import limits, signals
from .conf import app_settings
from .exceptions import CountersUnavailable, SuspectedFraud
from .models import PausedPrefix

logger = logging.getLogger("phone_verify")

GUARD_DEFAULTS: dict[str, Any] = {
    # A range: a national number without its last digits (4: ranges of 10,000 numbers).
    "PREFIX_TAIL_DIGITS": 4,
    # Seconds of sends and verifications a range's conversion is judged on (sliding).
    "WINDOW": 3600,
    # Sends to a range in the window before it is judged at all.
    "MIN_SENDS": 20,
    # Verified numbers per code sent below which the range is paused.
    "MIN_CONVERSION": 0.2,
    # Seconds a pause lasts, unless staff lift it in the admin.
    "PAUSE": 3600,
}

_SENDS = "pumping_sends"
_VERIFIED = "pumping_verified"


def guard() -> Mapping[str, Any] | None:
    """The guard's settings over ``GUARD_DEFAULTS``; None when turned off."""
    configured = app_settings.PUMPING_GUARD
    if configured is None:
        return None
    return {**GUARD_DEFAULTS, **configured}


def destination_prefix(e164: str, rules: Mapping[str, Any] | None = None) -> str:
    """The range ``e164`` belongs to: ``+33 61234`` for ``+33612345678`` (default tail of 4);
    ``rules``: the guard's settings, when the caller has them already."""
    rules = rules or guard() or GUARD_DEFAULTS
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.national_significant_number(number)
    kept = max(1, len(national) - int(rules["PREFIX_TAIL_DIGITS"]))
    return f"+{number.country_code} {national[:kept]}"


def check_open(e164: str, *, decide: bool = True) -> list[tuple[str, str, int]]:
    """Refuse (``SuspectedFraud``) a send to a paused range; with ``decide``, first pause the
    range if its conversion has fallen below the threshold. Called before any budget is taken.
    Answers what the send adds to the guard's counts (one send in the range; nothing when the
    guard is off), for ``limits.hit_all(record=...)`` to count with the send budgets, only if
    they all pass.

    Resends pass ``decide=False``: they run inside the resend's transaction, which the refusal
    rolls back, and the staff record of a pause must not vanish with it; the next new
    verification for the range decides.
    """
    rules = guard()
    if rules is None:
        return []
    prefix = destination_prefix(e164, rules)
    until = limits.in_counter_cache(lambda cache: cache.get(_pause_key(prefix)))
    if until is None and decide:
        until = _judge(prefix, rules)
    if until is not None:
        raise SuspectedFraud(retry_after=max(1, math.ceil(float(until) - time.time())))
    return [(_SENDS, prefix, int(rules["WINDOW"]))]


def count_verified(e164: str) -> None:
    """``e164`` was verified: one more conversion in its range. Best effort: the check is
    done, and a cache that fails now is logged by the limits."""
    rules = guard()
    if rules is None:
        return
    try:
        limits.record(_VERIFIED, destination_prefix(e164, rules), int(rules["WINDOW"]))
    except CountersUnavailable:
        pass


def lift(pause: PausedPrefix, *, by: str) -> None:
    """End a pause now (staff judged the range sound): its counts start over, so the guard
    judges it again only after ``MIN_SENDS`` more sends."""
    rules = guard() or GUARD_DEFAULTS
    window = int(rules["WINDOW"])
    limits.in_counter_cache(lambda cache: cache.delete(_pause_key(pause.prefix)))
    limits.forget(_SENDS, pause.prefix, window)
    limits.forget(_VERIFIED, pause.prefix, window)
    if pause.lifted_at is None:
        pause.lifted_at, pause.lifted_by = timezone.now(), by[:150]
        pause.save(update_fields=["lifted_at", "lifted_by"])
    logger.warning("pumping guard: sends to %s resumed by %s", pause.prefix, by)


def _judge(prefix: str, rules: Mapping[str, Any]) -> float | None:
    """Pause ``prefix`` if its conversion is too low; the pause's end, or None."""
    window = int(rules["WINDOW"])
    sends = limits.total(_SENDS, prefix, window)
    if sends < int(rules["MIN_SENDS"]):
        return None
    verified = limits.total(_VERIFIED, prefix, window)
    if verified >= float(rules["MIN_CONVERSION"]) * sends:
        return None
    seconds = int(rules["PAUSE"])
    until = time.time() + seconds
    if not limits.in_counter_cache(
        lambda cache: cache.add(_pause_key(prefix), until, timeout=seconds)
    ):
        # Another request paused it just now: its end is the one to say.
        return limits.in_counter_cache(lambda cache: cache.get(_pause_key(prefix))) or until
    pause = PausedPrefix.objects.create(
        prefix=prefix,
        until=timezone.now() + dt.timedelta(seconds=seconds),
        sends=sends,
        verified=verified,
    )
    logger.warning(
        "pumping guard: sends to %s paused for %d s: %d codes sent, %d verified in %d s",
        prefix,
        seconds,
        sends,
        verified,
        window,
    )
    signals.prefix_paused.send_robust(sender=PausedPrefix, pause=pause)
    return until


def _pause_key(prefix: str) -> str:
    return "phone_verify:pause:" + hashlib.sha256(prefix.encode()).hexdigest()[:32]


__all__ = [
    "GUARD_DEFAULTS",
    "check_open",
    "count_verified",
    "destination_prefix",
    "guard",
    "lift",
]
