"""Rate limits: fixed-window counters in Django's cache (``RATE_LIMIT_CACHE``).

Each limit is ``name -> (count, window in seconds)`` in ``PHONE_VERIFY["RATE_LIMITS"]``; ``hit``
adds one to the subject's counter for the current window and refuses the call that goes past
``count`` with ``RateLimited`` (429 with ``Retry-After``: the seconds left in the window). The
counter is incremented atomically by the cache (``add`` then ``incr``: atomic in Redis and in
the local-memory cache), so concurrent requests can never all slip under the limit. A refused
call still counts: hammering does not reset anything.

The counters are only as good as their cache: ``counter_store`` says whether a backend can
hold them (shared and atomic, per process, or not at all), for the system checks; and when the
cache cannot be reached, ``hit`` fails closed with ``CountersUnavailable`` (503), logging the
incident once, not once per request.

Subjects are hashed into the key (no phone number in the cache), and a limit set to ``None``
is off.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.utils.module_loading import import_string

from .conf import app_settings
from .exceptions import CountersUnavailable, RateLimited

logger = logging.getLogger("phone_verify")

# name -> (calls allowed, window in seconds). Overridden key by key by RATE_LIMITS.
DEFAULT_LIMITS: dict[str, tuple[int, int] | None] = {
    # Codes sent to one number (new verifications and resends).
    "send_per_phone_hour": (5, 3600),
    "send_per_phone_day": (10, 86_400),
    # Codes sent on one client IP's requests.
    "send_per_ip_hour": (20, 3600),
    # Codes checked from one client IP, and for one number across all its verifications (a new
    # verification must not give a new guessing budget).
    "check_per_ip_hour": (100, 3600),
    "check_per_phone_day": (15, 86_400),
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


def hit(name: str, subject: str | None) -> None:
    """Count one call of ``subject`` (a phone, an IP, a country...) against limit ``name``;
    raise ``RateLimited`` if it goes past the limit, ``CountersUnavailable`` if the counter
    cache cannot be reached. No subject (no IP known): not limited."""
    rule = limit(name)
    if rule is None or not subject:
        return
    allowed, window = rule
    now = time.time()
    window_index = math.floor(now / window)
    digest = hashlib.sha256(f"{name}:{subject}".encode()).hexdigest()[:32]
    count = _count(f"phone_verify:rl:{name}:{window_index}:{digest}", timeout=window + 1)
    if count > allowed:
        retry_after = max(1, math.ceil((window_index + 1) * window - now))
        raise RateLimited(limit=name, retry_after=retry_after)


def _count(key: str, timeout: int) -> int:
    """Add one to the counter ``key`` and answer its new value."""
    alias = app_settings.RATE_LIMIT_CACHE
    cache = caches[alias]
    try:
        cache.add(key, 0, timeout=timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: this call is the window's first
            cache.add(key, 1, timeout=timeout)
            count = 1
    # Each backend raises its own errors (redis.ConnectionError, pymemcache's, OSError...):
    # whichever it is, nothing was counted, so nothing may be sent or checked.
    except Exception as error:
        _unreachable(alias, error)
        raise CountersUnavailable() from None
    _reachable(alias)
    return count


# Aliases of the counter caches found unreachable, with when and how often since: the log
# says so once per incident (per process), and once more when the cache answers again.
_incidents: dict[str, list[float]] = {}
_incidents_lock = threading.Lock()


def _unreachable(alias: str, error: Exception) -> None:
    with _incidents_lock:
        incident = _incidents.get(alias)
        if incident is not None:
            incident[1] += 1
            return
        _incidents[alias] = [time.monotonic(), 1]
    # No traceback: the cause is the cache, not this code, and one line says it all.
    logger.error(
        "rate-limit cache %r (%s) cannot be reached (%s: %s): sends and checks answer 503 "
        "service_unavailable until it answers again",
        alias,
        settings.CACHES.get(alias, {}).get("BACKEND", "?"),
        type(error).__name__,
        error,
    )


def _reachable(alias: str) -> None:
    if alias not in _incidents:  # the usual case: a dict lookup, no lock
        return
    with _incidents_lock:
        incident = _incidents.pop(alias, None)
    if incident is not None:
        logger.warning(
            "rate-limit cache %r answers again after %.0f s; %d calls were refused meanwhile",
            alias,
            time.monotonic() - incident[0],
            incident[1],
        )


def hit_all(hits: Iterable[tuple[str, str | None]]) -> None:
    """``hit`` each ``(limit, subject)`` in order, stopping at the first refusal: put the
    caller's own budget (its IP) first, so a refused caller spends no one else's budget."""
    for name, subject in hits:
        hit(name, subject)


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
    "hit",
    "hit_all",
    "limit",
    "number_range",
]
