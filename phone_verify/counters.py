"""The counters of the rate limits and of the pumping guard, in Django's cache
(``RATE_LIMIT_CACHE``): taking budgets, reading and dropping counts, failing closed.

A budget is one subject's sliding window: a count per slot, the slots still counted, and the
count allowed (``limits`` computes them: the window arithmetic is theirs). ``take`` takes one
unit of each budget in order and stops at the first that would go past its count, giving back
every unit it took (that one's too).

On Redis (Django's ``RedisCache``, or django-redis' default client, the Redis caches sites run)
``take`` is one round trip: a Lua script run by ``EVALSHA`` does every step inside Redis, so
the budgets are taken atomically, all or none (unless the cache's ``KEY_FUNCTION`` hashes keys:
the script builds the slots' keys itself). On any other cache with an atomic ``incr``
(local memory, memcached) each budget costs ``add``, ``incr`` and ``get_many`` (on the
local-memory cache, a read of the earlier slots under one lock: ``_local_counts``), with the
same answer: each increment is atomic, so concurrent calls can never all slip under a limit.

When the cache cannot be reached, every operation fails closed with ``CountersUnavailable``
(503), logging the incident once, not once per request.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from .conf import app_settings
from .exceptions import CountersUnavailable

logger = logging.getLogger("phone_verify")


@dataclass(frozen=True)
class Budget:
    """One subject's window of counters: a count per slot, under the keys
    ``{prefix}:{slot}:{digest}`` of slots ``first`` to ``current`` (the current one last); how
    long a slot must live (seconds), and the count allowed over all of them (``None``: counted,
    never refused)."""

    prefix: str
    digest: str
    first: int
    current: int
    timeout: int
    allowed: int | None = None

    def key(self, slot: int) -> str:
        return f"{self.prefix}:{slot}:{self.digest}"

    @property
    def keys(self) -> list[str]:
        """Every slot's key, oldest first (the current one last)."""
        return [self.key(slot) for slot in range(self.first, self.current + 1)]


@dataclass(frozen=True)
class Taken:
    """What ``take`` found: the index of the budget refused (``None``: all were taken); that
    budget's total (or the last one's, when none was refused: this call's unit included), and
    its oldest slot still holding a count before the current one (the current one when none
    does): when that slot leaves the window, the budget has room again."""

    refused: int | None
    total: int
    oldest: int


def take(budgets: Sequence[Budget]) -> Taken:
    """Take one unit of each budget in order; at the first that would go past its count, give
    back every unit taken and stop there. Raises ``CountersUnavailable`` when the cache cannot
    be reached (then nothing was counted that matters: the call is refused)."""

    def taken(cache: Any) -> Taken:
        redis = _redis_of(cache)
        answer = _take_in_redis(*redis, budgets) if redis else None
        return answer or _take_one_by_one(cache, budgets)

    return _counted(taken)


def read(keys: Sequence[str]) -> list[int]:
    """The counts under ``keys`` (0 where there is none)."""

    def counts(cache: Any) -> list[int]:
        redis = _redis_of(cache)
        if redis:
            client, make_key = redis
            return [int(n or 0) for n in client.mget([make_key(key) for key in keys])]
        return _counts(cache, keys)

    return _counted(counts)


def drop(keys: Sequence[str]) -> None:
    """Delete the counts under ``keys``."""
    _counted(lambda cache: cache.delete_many(keys))


def in_counter_cache(operation: Callable[[Any], Any]) -> Any:
    """Run ``operation(cache)`` on the counter cache, failing closed as the counters do."""
    return _counted(operation)


# --- Redis: one round trip ------------------------------------------------------------------

# ARGV: for each budget, 6 values: its keys up to the slot number and after it (a slot's key is
# head .. slot .. tail), its first and current slots, its current slot's time to live, its
# count allowed (-1: no limit). Answers {the budget refused (1-based; 0: none), its total, its
# oldest slot holding a count}. The slots' keys are built here, not sent: 60 per budget would
# be most of the request. A script runs alone in Redis and no key expires while it runs: what
# it reads and gives back is exactly what it counted.
_SCRIPT = """
local taken, answer = {}, nil
for b = 0, #ARGV / 6 - 1 do
  local head, tail = ARGV[6 * b + 1], ARGV[6 * b + 2]
  local first, last = tonumber(ARGV[6 * b + 3]), tonumber(ARGV[6 * b + 4])
  local allowed = tonumber(ARGV[6 * b + 6])
  local current = head .. ARGV[6 * b + 4] .. tail
  redis.call('SET', current, 0, 'EX', ARGV[6 * b + 5], 'NX')
  local total = redis.call('INCR', current)
  taken[#taken + 1] = current
  local oldest = last
  if first < last then
    local keys = {}
    for slot = first, last - 1 do keys[#keys + 1] = head .. string.format('%d', slot) .. tail end
    local counts = redis.call('MGET', unpack(keys))
    for i = #counts, 1, -1 do
      local n = tonumber(counts[i]) or 0
      total = total + n
      if n ~= 0 then oldest = first + i - 1 end
    end
  end
  if allowed >= 0 and total > allowed then
    for _, key in ipairs(taken) do redis.call('DECR', key) end
    return {b + 1, total - 1, oldest}
  end
  answer = {0, total, oldest}
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
        return _primary_of(cache._cache), cache.make_key
    if type(cache).__module__.startswith("django_redis."):
        from django_redis.client import DefaultClient, HerdClient, ShardClient

        client = cache.client
        if isinstance(client, DefaultClient) and not isinstance(client, HerdClient | ShardClient):
            return client.get_client(write=True), client.make_key
    return None


# Django's RedisCacheClient builds a new redis-py client on every call (a dict of ~170
# response callbacks: 0.16 ms); the counters keep one per RedisCacheClient (each thread has its
# own cache objects, and a redis-py client is thread-safe anyway).
_primaries: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _primary_of(cache_client: Any) -> Any:
    """A redis-py client on the server Django's RedisCache writes to (the first)."""
    client = _primaries.get(cache_client)
    if client is None:
        client = _primaries[cache_client] = cache_client.get_client(None, write=True)
    return client


def _take_in_redis(
    client: Any, make_key: Callable[[str], str], budgets: Sequence[Budget]
) -> Taken | None:
    """``take`` in one round trip; ``None`` when the cache's key function does not keep a
    key's end as it is (a ``KEY_FUNCTION`` of the site's that hashes keys, say): the script
    could not build the slots' keys, so the one-by-one path counts instead."""
    from redis.exceptions import NoScriptError

    args: list[str | int] = []
    for budget in budgets:
        head, tail = make_key(f"{budget.prefix}:"), f":{budget.digest}"
        if make_key(budget.key(budget.current)) != f"{head}{budget.current}{tail}":
            return None
        allowed = -1 if budget.allowed is None else budget.allowed
        args += [head, tail, budget.first, budget.current, budget.timeout, allowed]
    try:
        refused, total, oldest = client.evalsha(_SCRIPT_SHA, 0, *args)
    except NoScriptError:  # a Redis restarted (or new) since: load the script, once
        client.script_load(_SCRIPT)
        refused, total, oldest = client.evalsha(_SCRIPT_SHA, 0, *args)
    return Taken(refused - 1 if refused else None, int(total), int(oldest))


# --- Any other cache with an atomic incr --------------------------------------------------


def _take_one_by_one(cache: Any, budgets: Sequence[Budget]) -> Taken:
    taken: list[str] = []
    answer = Taken(None, 0, 0)
    for index, budget in enumerate(budgets):
        current = budget.key(budget.current)
        count = _add_one(cache, current, budget.timeout)
        taken.append(current)
        counts = _counts(cache, budget.keys[:-1])
        total = count + sum(counts)
        oldest = budget.first + next((i for i, n in enumerate(counts) if n), len(counts))
        if budget.allowed is not None and total > budget.allowed:
            for key in taken:
                _give_back(cache, key)
            return Taken(index, total - 1, oldest)
        answer = Taken(None, total, oldest)
    return answer


def _counts(cache: Any, keys: Sequence[str]) -> list[int]:
    """The counts under ``keys`` (0 where there is none), by ``get_many``; on the local-memory
    cache, by ``_local_counts``."""
    if not keys:
        return []
    if type(cache) is LocMemCache:
        return _local_counts(cache, keys)
    found = cache.get_many(keys)
    return [int(found.get(key) or 0) for key in keys]


def _local_counts(cache: LocMemCache, keys: Sequence[str]) -> list[int]:
    """``LocMemCache.get_many``, less what buys nothing here: it calls ``get`` per key, which
    checks each key's characters for memcached (a Python loop over the key) and takes the lock
    again, 59 times per window and five windows per create (1.1 ms of a create's CPU). These
    keys are the counters' own, all of one shape (``Budget.key``: ASCII, no spaces, under 100
    characters), and ``add`` and ``incr`` check the current slot's key on every call; they go
    through the cache's own ``make_key`` (``KEY_PREFIX``, ``VERSION``, ``KEY_FUNCTION``), so
    they are the keys every other path reads and writes. The rest is ``get``'s, in one lock: an
    expired entry is deleted, a live one moves to the front of the cache's LRU order."""
    made = [cache.make_key(key) for key in keys]
    store, expiry = cache._cache, cache._expire_info
    found: list[bytes | None] = []
    with cache._lock:
        now = time.time()
        for key in made:
            if key not in expiry:  # the usual case: no count in that slot
                found.append(None)
            elif expiry[key] is not None and expiry[key] <= now:
                cache._delete(key)
                found.append(None)
            else:
                store.move_to_end(key, last=False)
                found.append(store[key])
    return [0 if value is None else int(pickle.loads(value) or 0) for value in found]


def _add_one(cache: Any, key: str, timeout: int) -> int:
    """Add one to ``key``, atomically; its new value."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this call is the slot's first
        cache.add(key, 1, timeout=timeout)
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
