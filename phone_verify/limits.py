"""Rate limits: fixed-window counters in Django's cache (``RATE_LIMIT_CACHE``).

Each limit is ``name -> (count, window in seconds)`` in ``PHONE_VERIFY["RATE_LIMITS"]``; ``hit``
adds one to the subject's counter for the current window and refuses the call that goes past
``count`` with ``RateLimited`` (429 with ``Retry-After``: the seconds left in the window). The
counter is incremented atomically by the cache (``add`` then ``incr``: atomic in Redis and in
the local-memory cache), so concurrent requests can never all slip under the limit. A refused
call still counts: hammering does not reset anything.

Subjects are hashed into the key (no phone number in the cache), and a limit set to ``None``
is off.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable

from django.core.cache import caches

from .conf import app_settings
from .exceptions import RateLimited

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
}


def limit(name: str) -> tuple[int, int] | None:
    configured = app_settings.RATE_LIMITS or {}
    value = configured[name] if name in configured else DEFAULT_LIMITS[name]
    return tuple(value) if value else None  # type: ignore[return-value]


def hit(name: str, subject: str | None) -> None:
    """Count one call of ``subject`` (a phone, an IP, a country...) against limit ``name``;
    raise ``RateLimited`` if it goes past the limit. No subject (no IP known): not limited."""
    rule = limit(name)
    if rule is None or not subject:
        return
    allowed, window = rule
    now = time.time()
    window_index = math.floor(now / window)
    digest = hashlib.sha256(f"{name}:{subject}".encode()).hexdigest()[:32]
    key = f"phone_verify:rl:{name}:{window_index}:{digest}"
    cache = caches[app_settings.RATE_LIMIT_CACHE]
    cache.add(key, 0, timeout=window + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this call is the window's first
        cache.add(key, 1, timeout=window + 1)
        count = 1
    if count > allowed:
        retry_after = max(1, math.ceil((window_index + 1) * window - now))
        raise RateLimited(limit=name, retry_after=retry_after)


def hit_all(hits: Iterable[tuple[str, str | None]]) -> None:
    """``hit`` each ``(limit, subject)`` in order, stopping at the first refusal: put the
    caller's own budget (its IP) first, so a refused caller spends no one else's budget."""
    for name, subject in hits:
        hit(name, subject)


def number_range(e164: str) -> str:
    """The block a number belongs to, for the per-prefix cap: all but its last 3 digits."""
    return e164[:-3]


__all__ = ["DEFAULT_LIMITS", "hit", "hit_all", "limit", "number_range"]
