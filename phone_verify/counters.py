"""The counters of the rate limits and of the pumping guard, in Django's cache
(``RATE_LIMIT_CACHE``): taking budgets, reading and dropping counts, failing closed.

A budget is one subject's sliding window: the key of its current slot, the keys of the earlier
slots still counted (``limits`` computes them: the window arithmetic is theirs), and the count
allowed. ``take`` takes one unit of each budget in order and stops at the first that would go
past its count, giving back every unit it took (that one's too).

On Redis (Django's ``RedisCache``, or django-redis' default client, the Redis caches sites run)
``take`` is one round trip: a Lua script run by ``EVALSHA`` does every step inside Redis, so
the budgets are taken atomically, all or none. On any other cache with an atomic ``incr``
(local memory, memcached) each budget costs ``add``, ``incr`` and ``get_many``, with the same
answer: each increment is atomic, so concurrent calls can never all slip under a limit.

When the cache cannot be reached, every operation fails closed with ``CountersUnavailable``
(503), logging the incident once, not once per request.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from .conf import app_settings
from .exceptions import CountersUnavailable

logger = logging.getLogger("phone_verify")


@dataclass(frozen=True)
class Budget:
    """One subject's window of counters: the current slot's key, the earlier slots' keys still
    counted, how long a slot must live (seconds), and the count allowed over all of them
    (``None``: counted, never refused)."""

    current: str
    earlier: Sequence[str]
    timeout: int
    allowed: int | None = None


@dataclass(frozen=True)
class Taken:
    """What ``take`` found: the index of the budget refused (``None``: all were taken), and
    the counts of that budget (or of the last one, when none was refused): its current slot's,
    this call's unit included unless refused, and its earlier slots', oldest first."""

    refused: int | None
    current: int
    earlier: list[int]

    @property
    def total(self) -> int:
        return self.current + sum(self.earlier)


def take(budgets: Sequence[Budget]) -> Taken:
    """Take one unit of each budget in order; at the first that would go past its count, give
    back every unit taken and stop there. Raises ``CountersUnavailable`` when the cache cannot
    be reached (then nothing was counted that matters: the call is refused)."""
    return _counted(
        lambda cache: (
            _take_in_redis(redis, budgets)
            if (redis := _redis_of(cache))
            else _take_one_by_one(cache, budgets)
        )
    )


def read(keys: Sequence[str]) -> list[int]:
    """The counts under ``keys`` (0 where there is none)."""

    def counts(cache: Any) -> list[int]:
        redis = _redis_of(cache)
        if redis:
            client, make_key = redis
            return [int(n or 0) for n in client.mget([make_key(key) for key in keys])]
        found = cache.get_many(keys)
        return [int(found.get(key) or 0) for key in keys]

    return _counted(counts)


def drop(keys: Sequence[str]) -> None:
    """Delete the counts under ``keys``."""
    _counted(lambda cache: cache.delete_many(keys))


def in_counter_cache(operation: Callable[[Any], Any]) -> Any:
    """Run ``operation(cache)`` on the counter cache, failing closed as the counters do."""
    return _counted(operation)


# --- Redis: one round trip ------------------------------------------------------------------

# KEYS: for each budget, its current slot then its earlier slots. ARGV: for each budget, its
# count allowed (-1: no limit), its current slot's time to live, how many earlier slots it has.
# Answers {index of the budget refused (1-based; 0: none), its current count, its earlier
# counts}. A script runs alone in Redis, and no key expires while it runs: what it reads and
# gives back is exactly what it counted.
_SCRIPT = """
local taken, k, answer = {}, 0, nil
for b = 0, #ARGV / 3 - 1 do
  local allowed, ttl, n = tonumber(ARGV[3 * b + 1]), ARGV[3 * b + 2], tonumber(ARGV[3 * b + 3])
  local current = KEYS[k + 1]
  redis.call('SET', current, 0, 'EX', ttl, 'NX')
  local count = redis.call('INCR', current)
  taken[#taken + 1] = current
  local earlier, total = {}, count
  if n > 0 then earlier = redis.call('MGET', unpack(KEYS, k + 2, k + 1 + n)) end
  for i = 1, n do
    earlier[i] = tonumber(earlier[i]) or 0
    total = total + earlier[i]
  end
  if allowed >= 0 and total > allowed then
    for _, key in ipairs(taken) do redis.call('DECR', key) end
    return {b + 1, count - 1, earlier}
  end
  answer = {0, count, earlier}
  k = k + 1 + n
end
return answer
"""
_SCRIPT_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()


def _redis_of(cache: Any) -> tuple[Any, Callable[[str], str]] | None:
    """The redis-py client (the primary) and the key function of a cache the script can run
    on: Django's ``RedisCache``, or django-redis' default (or Sentinel) client. Not
    django-redis' shard client (keys spread over servers) nor its herd client (values
    wrapped); those, and every other backend, take the one-by-one path."""
    if isinstance(cache, RedisCache):
        # Its RedisCacheClient, as Django's own methods use it (writes go to the first server).
        return cache._cache.get_client(None, write=True), cache.make_key
    if type(cache).__module__.startswith("django_redis."):
        from django_redis.client import DefaultClient, HerdClient, ShardClient

        client = cache.client
        if isinstance(client, DefaultClient) and not isinstance(client, HerdClient | ShardClient):
            return client.get_client(write=True), client.make_key
    return None


def _take_in_redis(redis: tuple[Any, Callable[[str], str]], budgets: Sequence[Budget]) -> Taken:
    from redis.exceptions import NoScriptError

    client, make_key = redis
    keys: list[str] = []
    args: list[int] = []
    for budget in budgets:
        keys.append(make_key(budget.current))
        keys += [make_key(key) for key in budget.earlier]
        allowed = -1 if budget.allowed is None else budget.allowed
        args += [allowed, budget.timeout, len(budget.earlier)]
    try:
        refused, current, earlier = client.evalsha(_SCRIPT_SHA, len(keys), *keys, *args)
    except NoScriptError:  # a Redis restarted (or new) since: load the script, once
        client.script_load(_SCRIPT)
        refused, current, earlier = client.evalsha(_SCRIPT_SHA, len(keys), *keys, *args)
    return Taken(refused - 1 if refused else None, int(current), [int(n) for n in earlier])


# --- Any other cache with an atomic incr --------------------------------------------------


def _take_one_by_one(cache: Any, budgets: Sequence[Budget]) -> Taken:
    taken: list[str] = []
    answer = Taken(None, 0, [])
    for index, budget in enumerate(budgets):
        current = _add_one(cache, budget)
        taken.append(budget.current)
        found = cache.get_many(budget.earlier) if budget.earlier else {}
        earlier = [int(found.get(key) or 0) for key in budget.earlier]
        answer = Taken(None, current, earlier)
        if budget.allowed is not None and answer.total > budget.allowed:
            for key in taken:
                _give_back(cache, key)
            return Taken(index, current - 1, earlier)
    return answer


def _add_one(cache: Any, budget: Budget) -> int:
    """Add one to the current slot, atomically; its new value."""
    cache.add(budget.current, 0, timeout=budget.timeout)
    try:
        return cache.incr(budget.current)
    except ValueError:  # expired between add and incr: this call is the slot's first
        cache.add(budget.current, 1, timeout=budget.timeout)
        return 1


def _give_back(cache: Any, key: str) -> None:
    """Undo one count of ``key`` (a refused call costs nothing); best effort: a slot that
    expired meanwhile, or a cache that just failed, has nothing to give back."""
    try:
        cache.decr(key)
    except Exception:  # noqa: BLE001  (any backend's error: nothing to undo then)
        pass


# --- Failing closed -------------------------------------------------------------------------


def _counted(operation: Callable[[Any], Any]) -> Any:
    """Run ``operation`` on the counter cache, failing closed (``CountersUnavailable``) when
    the cache cannot be reached."""
    alias = app_settings.RATE_LIMIT_CACHE
    try:
        done = operation(caches[alias])
    # Each backend raises its own errors (redis.ConnectionError, pymemcache's, OSError...):
    # whichever it is, nothing was counted, so nothing may be sent or checked.
    except Exception as error:
        _unreachable(alias, error)
        raise CountersUnavailable() from None
    _reachable(alias)
    return done


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


__all__ = ["Budget", "Taken", "drop", "in_counter_cache", "read", "take"]
