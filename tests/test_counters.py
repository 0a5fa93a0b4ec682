"""The counters against a real Redis (``PHONE_VERIFY_TEST_REDIS``), on both paths: the Lua
script (Django's ``RedisCache``, django-redis' default client: one round trip per call) and
the one-by-one path every other cache takes (here django-redis' shard client, on the same
Redis, and the local-memory cache). Both give the same answers: exactly the limit under real
concurrent threads, the first refusal stops the call and gives back what it took, the same
``Retry-After``, and counts kept by one path are counted by the other (same keys, same
values). And the round trips a create and a check cost on Redis are counted."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from contextlib import contextmanager
from typing import Any

import pytest
import redis.connection
import time_machine
from django.core.cache import caches
from django.test import override_settings

from phone_verify import limits
from phone_verify.exceptions import RateLimited

from .processes import redis_url, require_redis

pytestmark = [
    pytest.mark.services,
    # django-redis' shard client warns about its own internal calls (add, get_many)...
    pytest.mark.filterwarnings("ignore:.* on sharded client should not specify client"),
]

START = dt.datetime(2026, 11, 22, 9, 0, 10, tzinfo=dt.UTC)
SCRIPT = "one round trip (Lua)"
ONE_BY_ONE = "one by one"
CACHES = {
    # alias: (backend, its settings beyond BACKEND and LOCATION, the path it takes)
    "django": ("django.core.cache.backends.redis.RedisCache", {"KEY_PREFIX": "site"}, SCRIPT),
    "django_redis": (
        "django_redis.cache.RedisCache",
        {"KEY_PREFIX": "site", "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"}},
        SCRIPT,
    ),
    "django_redis_shard": (
        "django_redis.cache.RedisCache",
        {"KEY_PREFIX": "site", "OPTIONS": {"CLIENT_CLASS": "django_redis.client.ShardClient"}},
        ONE_BY_ONE,
    ),
    # A key function that hashes keys: the script cannot build the slots' keys from one.
    "django_hashed_keys": (
        "django.core.cache.backends.redis.RedisCache",
        {"KEY_FUNCTION": f"{__name__}.hashed_key"},
        ONE_BY_ONE,
    ),
    "locmem": ("django.core.cache.backends.locmem.LocMemCache", {}, ONE_BY_ONE),
}


def hashed_key(key: str, key_prefix: str, version: int) -> str:
    return hashlib.sha256(f"{key_prefix}:{version}:{key}".encode()).hexdigest()


def cache_settings() -> dict[str, dict[str, Any]]:
    return {
        alias: {
            "BACKEND": backend,
            "LOCATION": "counters-test" if backend.endswith("LocMemCache") else redis_url(),
            **extra,
        }
        for alias, (backend, extra, _) in CACHES.items()
    }


@pytest.fixture
def counters_in(settings):
    """``with counters_in(alias, **limits):`` the counters in that cache, with those limits
    (every other limit off); the Redis database is emptied once, at the start of the test."""
    pytest.importorskip("django_redis")
    require_redis()  # and empties its database
    with override_settings(CACHES=cache_settings()):
        caches["locmem"].clear()  # lives as long as the process

    @contextmanager
    def use(alias: str, **rules: tuple[int, int]):
        phone_verify = {
            **settings.PHONE_VERIFY,
            "RATE_LIMIT_CACHE": alias,
            "RATE_LIMITS": {**dict.fromkeys(limits.DEFAULT_LIMITS), **rules},
        }
        with override_settings(CACHES=cache_settings(), PHONE_VERIFY=phone_verify):
            yield

    return use


class RoundTrips:
    """Counts the requests redis-py sends (a pipeline or a script is one)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        send = redis.connection.AbstractConnection.send_packed_command

        def counted(connection, command, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
            self.count += 1
            return send(connection, command, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)

    @contextmanager
    def measure(self):
        """``with trips.measure() as taken:`` ... ``taken.count``, the round trips inside."""
        measured = RoundTrips.__new__(RoundTrips)
        before = self.count
        yield measured
        measured.count = self.count - before


def outcome(*hits: tuple[str, str]) -> str:
    """``"ok"``, or the limit that refused ``hits``."""
    try:
        limits.hit_all(hits)
    except RateLimited as refused:
        return refused.limit
    return "ok"


def spent(name: str, subject: str) -> int:
    """Units of ``name`` spent by ``subject`` in its window now."""
    return limits.total(name, subject, limits.limit(name)[1])


@pytest.mark.parametrize("alias", CACHES)
def test_each_path_takes_the_budgets_in_order_and_gives_back_at_the_first_refusal(
    counters_in, alias
):
    ip, phone = ("send_per_ip_hour", "192.0.2.1"), ("send_per_phone_hour", "+33612345678")
    with counters_in(alias, send_per_ip_hour=(3, 3600), send_per_phone_hour=(2, 3600)):
        answers = [outcome(ip, phone) for _ in range(3)]
        # The phone's budget refused the third: the IP's unit was given back.
        assert answers == ["ok", "ok", "send_per_phone_hour"]
        assert (spent(*ip), spent(*phone)) == (2, 2)
        # A refusal by the first budget never touches the second.
        other = ("send_per_phone_hour", "+33698765432")
        assert [outcome(ip, other) for _ in range(2)] == ["ok", "send_per_ip_hour"]
        assert (spent(*ip), spent(*other)) == (3, 1)


@pytest.mark.parametrize("alias", CACHES)
def test_each_path_gives_the_same_retry_after(counters_in, alias):
    with (
        counters_in(alias, send_per_phone_hour=(2, 3600)),
        time_machine.travel(START, tick=False) as clock,
    ):
        assert limits.hit("send_per_phone_hour", "+33612345678") is None
        clock.shift(dt.timedelta(minutes=20))
        assert limits.hit("send_per_phone_hour", "+33612345678") is None
        clock.shift(dt.timedelta(minutes=15))
        with pytest.raises(RateLimited) as refused:
            limits.hit("send_per_phone_hour", "+33612345678")
    # The first unit leaves the window 60 minutes after the minute it was spent in began.
    assert refused.value.retry_after == 25 * 60 - 10


@pytest.mark.parametrize("alias", CACHES)
def test_concurrent_calls_take_exactly_the_limit_and_leak_nothing(counters_in, alias):
    """20 threads at once, 5 clients x 4 calls for one number, as the send limits are taken:
    2 per client and number, then 8 per number. Exactly 8 pass, and every refused call gave
    back what it took: the clients' counts add up to what passed."""
    clients = [f"198.51.100.{n}" for n in range(5)]
    phone = "+33612345678"
    rules = {"send_per_phone_client_hour": (2, 3600), "send_per_phone_hour": (8, 3600)}
    answers: list[str] = []
    barrier = threading.Barrier(20)

    def one(client: str) -> None:
        barrier.wait()
        answers.append(
            outcome(("send_per_phone_client_hour", client), ("send_per_phone_hour", phone))
        )

    with counters_in(alias, **rules):
        threads = [threading.Thread(target=one, args=(clients[i % 5],)) for i in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        per_client = [spent("send_per_phone_client_hour", client) for client in clients]
        per_phone = spent("send_per_phone_hour", phone)
    assert answers.count("ok") == 8 == per_phone
    assert sum(per_client) == 8 and max(per_client) <= 2


def test_counts_kept_by_one_path_are_counted_by_the_other(counters_in):
    """The same keys and values on both paths: a site can change cache client (or run old and
    new processes side by side) without a budget starting over."""
    subject = ("send_per_ip_hour", "192.0.2.9")
    with counters_in("django_redis_shard", send_per_ip_hour=(3, 3600)):
        assert [outcome(subject) for _ in range(2)] == ["ok", "ok"]
    with counters_in("django", send_per_ip_hour=(3, 3600)):
        assert [outcome(subject) for _ in range(2)] == ["ok", "send_per_ip_hour"]
    with counters_in("django_redis_shard", send_per_ip_hour=(3, 3600)):
        assert outcome(subject) == "send_per_ip_hour"
        assert spent(*subject) == 3


@pytest.mark.parametrize("alias", ["django", "django_redis"])
def test_a_create_and_a_check_cost_few_round_trips_to_redis(
    api, outbox, counters_in, monkeypatch, numbers, alias
):
    """On Redis: a create is 3 round trips (the pumping guard's pause and its count of sends
    read, then the five send budgets taken and the send counted for the guard in one script),
    a check 2 (its budget, then the verified number counted for the guard), a wrong guess 1.
    It was 26, 8 and 4 with ``add`` + ``incr`` + ``get_many`` per budget."""
    trips = RoundTrips(monkeypatch)
    with counters_in(alias, **{name: (100, 3600) for name in limits.DEFAULT_LIMITS}):
        api.start("+33612345670", consents={"sms": True})  # the script loaded, connections open
        with trips.measure() as create:
            verification_id = api.start("+33612345678", consents={"sms": True}).json()["id"]
        with trips.measure() as wrong:
            assert api.check(verification_id, "000000").status_code == 400
        with trips.measure() as check:
            answer = api.check(verification_id, outbox.last_code("+33612345678"))
            assert answer.status_code == 200
    numbers(f"{alias}: round trips per create {create.count}, check {check.count}, "
            f"wrong check {wrong.count}")  # fmt: skip
    assert (create.count, check.count, wrong.count) == (3, 2, 1)


def test_each_cache_takes_the_path_said(counters_in, monkeypatch):
    """Five budgets: one round trip on the script's caches, 15 or more (an ``add``, an
    ``incr``, a ``get_many`` each) on django-redis' shard client and with a key function that
    hashes keys."""
    trips = RoundTrips(monkeypatch)
    hits = [(name, "192.0.2.1") for name in limits.DEFAULT_LIMITS][:5]
    for alias, (_, _, path) in CACHES.items():
        if alias == "locmem":
            continue
        with counters_in(alias, **{name: (100, 3600) for name in limits.DEFAULT_LIMITS}):
            limits.hit_all(hits)  # the script loaded, connections open
            with trips.measure() as taken:
                limits.hit_all(hits)
        assert (taken.count == 1) == (path == SCRIPT), (alias, taken.count)
        assert path == SCRIPT or taken.count >= 15
