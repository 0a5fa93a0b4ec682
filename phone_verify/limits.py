"""Rate limits: sliding-window counters in Django's cache (``RATE_LIMIT_CACHE``).

Each limit is ``name -> (count, window in seconds)`` in ``PHONE_VERIFY["RATE_LIMITS"]``. A
window is counted in ``SLOTS`` slots, so it slides by a sixtieth of itself (a minute for an
hour): no calendar reset doubles a budget around midnight, and a budget spent comes back at
most one window after the calls that spent it. ``hit_all`` takes one unit of each budget a call
needs, in order; the call that would go past one is refused with ``RateLimited`` (429 with
``Retry-After``: the seconds until the oldest slot still counted leaves the window), and gives
back what it took: a refused call costs nothing, so retrying never prolongs a block. The
counts are kept by ``counters``: atomically (concurrent requests can never all slip under the
limit), in one round trip on Redis; when the cache cannot be reached, the limits fail closed
with ``CountersUnavailable`` (503), logging the incident once, not once per request.

The counters are only as good as their cache: ``counter_store`` says whether a backend can
hold them (shared and atomic, per process, or not at all), for the system checks.

Subjects are hashed into the key (no phone number in the cache), and a limit set to ``None``
is off.
"""

from __future__ import annotations

import enum
import hashlib
import math
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils.module_loading import import_string

from . import counters
from .conf import app_settings
from .counters import in_counter_cache
from .exceptions import RateLimited

# name -> (calls allowed, window in seconds). Overridden key by key by RATE_LIMITS.
DEFAULT_LIMITS: dict[str, tuple[int, int] | None] = {
    # Codes sent to one number (new verifications and resends) from one client address, and
    # from anyone. Keeping the owner from getting a code takes 4 addresses (8 / 2), for an
    # hour at most after the last send; and 8 sends x MAX_CHECK_ATTEMPTS bounds the guesses on
    # one number (see ``guessing_bound``).
    "send_per_phone_client_hour": (2, 3600),
    "send_per_phone_hour": (8, 3600),
    # Codes sent on one client IP's requests.
    "send_per_ip_hour": (20, 3600),
    # Codes checked from one client IP. Guesses cost the client that makes them and the
    # verification they are made on (MAX_CHECK_ATTEMPTS), never the number: a stranger's
    # wrong guesses must not lock the owner out.
    "check_per_ip_hour": (100, 3600),
    # Codes sent to one country per day: bounds the bill of an SMS-pumping attack.
    "send_per_country_day": (10_000, 86_400),
    # Codes sent to one number range (all but the last 3 digits) per hour: pumping walks ranges.
    "send_per_prefix_hour": (20, 3600),
    # Identity prefills (each a billable operator request), as sends: per client IP, per
    # number, per number range.
    "prefill_per_ip_hour": (10, 3600),
    "prefill_per_phone_hour": (3, 3600),
    "prefill_per_prefix_hour": (20, 3600),
}


def limit(name: str) -> tuple[int, int] | None:
    configured = app_settings.RATE_LIMITS or {}
    value = configured[name] if name in configured else DEFAULT_LIMITS[name]
    return tuple(value) if value else None  # type: ignore[return-value]


# Slots per window: the window slides by 1/SLOTS of itself.
SLOTS = 60


def hit(name: str, subject: str | None) -> None:
    """Count one call of ``subject`` (a phone, an IP, a country...) against limit ``name``;
    raise ``RateLimited`` if it goes past the limit, ``CountersUnavailable`` if the counter
    cache cannot be reached. No subject (no IP known): not limited."""
    hit_all([(name, subject)])


def hit_all(
    hits: Iterable[tuple[str, str | None]], *, record: Iterable[tuple[str, str, int]] = ()
) -> None:
    """Take one unit of each ``(limit, subject)`` budget in order; at the first refusal, give
    back the units already taken and raise. Put the caller's own budget (its IP) first, so a
    refused caller never even touches anyone else's. ``record``: ``(name, subject, window)``
    events counted with no limit (as ``record`` does), only when every budget was taken, in
    the same round trip. One round trip on Redis."""
    now = time.time()
    rules: list[tuple[str, int]] = []
    budgets: list[counters.Budget] = []
    for name, subject in hits:
        rule = limit(name)
        if rule is None or not subject:
            continue
        allowed, window = rule
        rules.append((name, window))
        budgets.append(_budget(name, subject, window, now, allowed))
    # Last: never refused, and given back with the others when a budget refuses.
    budgets += [_budget(name, subject, window, now) for name, subject, window in record]
    if not budgets:
        return
    taken = counters.take(budgets)
    if taken.refused is not None:
        name, window = rules[taken.refused]
        # Room again when the oldest slot still counted leaves the window.
        retry_after = math.ceil((taken.oldest + SLOTS) * (window / SLOTS) - now)
        raise RateLimited(limit=name, retry_after=max(1, retry_after))


def record(name: str, subject: str, window: int) -> int:
    """Count one event of ``subject`` in a sliding window of ``window`` seconds, with no limit
    (what the pumping guard watches); answer the window's total."""
    return counters.take([_budget(name, subject, window, time.time())]).total


def total(name: str, subject: str, window: int) -> int:
    """The events of ``subject`` counted by ``record`` in the last ``window`` seconds."""
    return sum(counters.read(_budget(name, subject, window, time.time()).keys))


def forget(name: str, subject: str, window: int) -> None:
    """Drop the counts of ``subject`` (counting starts over)."""
    counters.drop(_budget(name, subject, window, time.time()).keys)


def _budget(
    name: str, subject: str, window: int, now: float, allowed: int | None = None
) -> counters.Budget:
    """The sliding window of ``subject`` under ``name`` at ``now``: ``SLOTS`` slots of
    ``window / SLOTS`` seconds, the current one last, each living until it leaves the window.
    The subject is hashed into the keys: no phone number in the cache."""
    length = window / SLOTS
    current = math.floor(now / length)
    return counters.Budget(
        prefix=f"phone_verify:rl:{name}:{window}",
        digest=hashlib.sha256(f"{name}:{subject}".encode()).hexdigest()[:32],
        first=current - SLOTS + 1,
        current=current,
        timeout=math.ceil(window + length),
        allowed=allowed,
    )


def guessing_bound() -> tuple[int, int] | None:
    """The most codes anyone can have evaluated against one number, in any 60 minutes and in
    any 24 hours, with the settings in force; None when ``send_per_phone_hour`` is off.

    Every guess is made on a verification, each verification starts with a send to the number,
    and a verification takes ``MAX_CHECK_ATTEMPTS`` guesses. Sends to the number are at most
    ``calls`` in any ``SLOTS - 1`` slots of the window (the counted window is never shorter):
    twice that in any one window, and a day is covered by ceil(day / (SLOTS - 1) slots) such
    spans.
    """
    rule = limit("send_per_phone_hour")
    if rule is None:
        return None
    calls, window = rule
    span = window * (SLOTS - 1) / SLOTS
    per_span = calls * app_settings.MAX_CHECK_ATTEMPTS
    return per_span * math.ceil(3600 / span), per_span * math.ceil(86_400 / span)


def number_range(e164: str) -> str:
    """The block a number belongs to, for the per-prefix cap: all but its last 3 digits."""
    return e164[:-3]


class CounterStore(enum.Enum):
    """What a cache backend is worth as the home of the counters."""

    SHARED = "shared"  # one atomic count for every process and server (Redis, memcached)
    PER_PROCESS = "per_process"  # atomic, but each process counts alone (local memory)
    CANNOT_COUNT = "cannot_count"  # stores nothing, or increments by a get then a set
    MISSING = "missing"  # not in CACHES, or its backend cannot be imported


def counter_store(alias: str) -> tuple[CounterStore, str]:
    """How the cache ``alias`` of ``CACHES`` can hold the counters, and its backend's path.

    As far as can be known without talking to it: a backend that does not implement ``incr``
    itself inherits ``BaseCache.incr``, a read then a write that concurrent requests slip under
    (the database and file caches); ``DummyCache`` keeps nothing. A backend of its own with an
    ``incr`` of its own (django-redis...) is trusted to be shared and atomic.
    """
    path = str((settings.CACHES.get(alias) or {}).get("BACKEND", ""))
    try:
        backend = import_string(path)
    except ImportError:
        return CounterStore.MISSING, path
    if not isinstance(backend, type) or not issubclass(backend, BaseCache):
        return CounterStore.MISSING, path
    if issubclass(backend, DummyCache) or backend.incr is BaseCache.incr:
        return CounterStore.CANNOT_COUNT, path
    if issubclass(backend, LocMemCache):
        return CounterStore.PER_PROCESS, path
    return CounterStore.SHARED, path


__all__ = [
    "DEFAULT_LIMITS",
    "CounterStore",
    "counter_store",
    "guessing_bound",
    "in_counter_cache",
    "hit",
    "hit_all",
    "limit",
    "number_range",
    "record",
    "total",
    "forget",
]
