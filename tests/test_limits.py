"""Rate limits: each one holds exactly at its boundary (N allowed, N+1 refused with 429 and
Retry-After) and comes back when its window has slid past the calls that spent it (the clock
moved by time-machine, no sleeping); no calendar reset; a refused call costs nothing; the
client IP is believed from X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from itertools import count

import pytest
import time_machine
from django.test import RequestFactory, override_settings

from phone_verify import limits
from phone_verify.clients import client_ip
from phone_verify.exceptions import RateLimited
from phone_verify.models import Verification

PHONE = "+33612345678"
START = dt.datetime(2026, 11, 22, 0, 0, 10, tzinfo=dt.UTC)  # 10 s into an hour and a day
_numbers = count()


def only(name: str, allowed: int, window: int) -> dict:
    """RATE_LIMITS with ``name`` at (allowed, window) and every other limit off."""
    return {**dict.fromkeys(limits.DEFAULT_LIMITS), name: (allowed, window)}


def another_phone() -> str:
    """A different French mobile each call, in different number ranges."""
    return f"+3361{next(_numbers) % 1000:03d}{5678:04d}"[:12]


def start(api, phone: str | None = None, ip: str = "203.0.113.7"):
    return api.post(
        "verifications/",
        {"phone_number": phone or another_phone(), "consents": {"sms": True}},
        REMOTE_ADDR=ip,
    )


def wrong_check(api, ip: str = "203.0.113.7", phone: str | None = None):
    verification = start(api, phone).json()["id"]
    return api.post(f"verifications/{verification}/check/", {"code": "000000"}, REMOTE_ADDR=ip)


ACTIONS: dict[str, Callable] = {
    # Each call: one more of what the limit counts, and nothing else the same twice.
    "send_per_phone_hour": lambda api: start(api, PHONE, ip=f"198.51.100.{next(_numbers) % 250}"),
    "send_per_phone_client_hour": lambda api: start(api, PHONE),
    "send_per_ip_hour": lambda api: start(api),
    "send_per_prefix_hour": lambda api: start(api, f"+33612345{next(_numbers) % 1000:03d}"),
    "send_per_country_day": lambda api: start(api, ip=f"198.51.100.{next(_numbers) % 250}"),
    "check_per_ip_hour": lambda api: wrong_check(api),
    "prefill_per_ip_hour": None,  # tests/test_prefill.py (needs DQE mocked)
    "prefill_per_phone_hour": None,
    "prefill_per_prefix_hour": None,
}


@pytest.mark.parametrize("name", sorted(name for name, action in ACTIONS.items() if action))
def test_each_limit_holds_at_its_boundary_and_resets_with_its_window(api, settings, name):
    allowed, window = 3, limits.DEFAULT_LIMITS[name][1]
    action = ACTIONS[name]
    with (
        override_settings(
            PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": only(name, 3, window)}
        ),
        time_machine.travel(START, tick=False) as clock,
    ):
        answers = [action(api) for _ in range(allowed + 1)]
        clock.shift(window - 11)  # still the same window: refused
        still = action(api)
        clock.shift(1)  # the next window: allowed again
        again = action(api)

    ok = 400 if name.startswith("check") else 201  # a wrong code, or a started verification
    assert [a.status_code for a in answers[:allowed]] == [ok] * allowed
    refused = answers[allowed]
    assert refused.status_code == 429, refused.json()
    assert refused.json() == {
        "code": "rate_limited",
        "detail": "Too many requests; try again later.",
        "retry_after": window - 10,  # seconds left in the window
    }
    assert refused["Retry-After"] == str(window - 10)
    assert still.status_code == 429 and still["Retry-After"] == "1"
    assert again.status_code == ok


def test_a_refused_send_stores_nothing_and_sends_nothing(api, settings, outbox):
    rules = only("send_per_phone_hour", 1, 3600)
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}):
        assert start(api, PHONE).status_code == 201
        assert start(api, PHONE).status_code == 429
    assert Verification.objects.count() == 1 and len(outbox) == 1


def test_resends_count_against_the_phone(api, settings):
    rules = {**only("send_per_phone_hour", 2, 3600)}
    phone_verify = {**settings.PHONE_VERIFY, "RATE_LIMITS": rules, "RESEND_COOLDOWN": 0}
    with override_settings(PHONE_VERIFY=phone_verify):
        verification = start(api, PHONE).json()["id"]
        first = api.post(f"verifications/{verification}/resend/")
        second = api.post(f"verifications/{verification}/resend/")
    assert (first.status_code, second.status_code) == (202, 429)
    assert Verification.objects.get().sends == 2  # the refused resend changed nothing


def test_every_limit_is_tested():
    assert set(ACTIONS) == set(limits.DEFAULT_LIMITS)


def test_no_calendar_reset_doubles_a_budget(api, settings):
    """Three sends spent just before the hour turns are still spent just after it: the window
    slides, so a budget never doubles around a boundary."""
    rules = only("send_per_phone_hour", 3, 3600)
    with (
        override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}),
        time_machine.travel(START + dt.timedelta(minutes=59), tick=False) as clock,
    ):
        spent = [ACTIONS["send_per_phone_hour"](api).status_code for _ in range(3)]
        clock.shift(dt.timedelta(minutes=2))  # the next calendar hour
        after_the_hour = ACTIONS["send_per_phone_hour"](api)
        clock.shift(dt.timedelta(minutes=58))  # an hour after the three sends
        an_hour_later = ACTIONS["send_per_phone_hour"](api).status_code
    assert spent == [201] * 3
    assert after_the_hour.status_code == 429
    assert after_the_hour["Retry-After"] == str(58 * 60 - 10)  # when the spent minute leaves
    assert an_hour_later == 201


def test_a_refused_call_costs_nothing_so_retrying_never_prolongs_a_block(api, settings):
    rules = only("send_per_phone_hour", 2, 3600)
    with (
        override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}),
        time_machine.travel(START, tick=False) as clock,
    ):
        spent = [start(api, PHONE).status_code for _ in range(2)]
        retries = []
        for _ in range(59):  # someone tries again every minute for the whole hour
            clock.shift(60)
            retries.append(start(api, PHONE).status_code)
        clock.shift(60)
        back = start(api, PHONE).status_code
    assert spent == [201, 201] and set(retries) == {429}
    assert back == 201  # one window after the two sends, whatever was refused meanwhile


def test_a_call_refused_by_one_budget_gives_back_the_others(api, settings):
    """The number's budget is not spent by a send its client's own budget refused."""
    rules = {
        **dict.fromkeys(limits.DEFAULT_LIMITS),
        "send_per_phone_client_hour": (1, 3600),
        "send_per_phone_hour": (2, 3600),
    }
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}):
        first = start(api, PHONE, ip="203.0.113.1").status_code
        refused = [start(api, PHONE, ip="203.0.113.1").status_code for _ in range(5)]
        other_client = start(api, PHONE, ip="203.0.113.2").status_code
    assert (first, set(refused), other_client) == (201, {429}, 201)


def test_concurrent_hits_never_slip_under_the_limit(settings):
    rules = only("send_per_ip_hour", 7, 3600)
    results: list[str] = []
    barrier = threading.Barrier(20)

    def one() -> None:
        barrier.wait()
        try:
            limits.hit("send_per_ip_hour", "192.0.2.1")
            results.append("allowed")
        except RateLimited:
            results.append("refused")

    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}):
        threads = [threading.Thread(target=one) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert results.count("allowed") == 7 and results.count("refused") == 13


def test_the_cache_never_holds_a_phone_number(settings):
    from django.core.cache import cache

    limits.hit("send_per_phone_hour", PHONE)
    keys = list(cache._cache)  # the local-memory cache's own dict
    assert keys and not any("612345678" in key for key in keys)


# --- the client IP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        ([], "203.0.113.7", "", "203.0.113.7"),
        ([], "203.0.113.7", "1.2.3.4", "203.0.113.7"),  # no trusted proxy: the header is a lie
        (["10.0.0.0/8"], "203.0.113.7", "1.2.3.4", "203.0.113.7"),  # not from our proxy
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.9", "198.51.100.9"),
        (["10.0.0.0/8"], "10.0.0.2", "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # spoofed left
        (["10.0.0.0/8"], "10.0.0.2", "198.51.100.9, 10.0.0.3", "198.51.100.9"),  # two proxies
        (["10.0.0.0/8"], "10.0.0.2", "not-an-ip", "10.0.0.2"),
        (["10.0.0.0/8"], "10.0.0.2", "", "10.0.0.2"),
        (["10.0.0.2"], "10.0.0.2", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_ip_believes_only_trusted_proxies(settings, proxies, remote, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "TRUSTED_PROXIES": proxies}):
        assert client_ip(request) == expected


def test_a_forged_forwarded_for_does_not_escape_the_ip_limit(api, settings):
    rules = only("send_per_ip_hour", 2, 3600)
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}):
        answers = [
            api.post(
                "verifications/",
                {"phone_number": another_phone(), "consents": {"sms": True}},
                REMOTE_ADDR="203.0.113.7",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
            ).status_code
            for i in range(3)
        ]
    assert answers == [201, 201, 429]


def test_the_local_memory_counts_are_what_get_many_reads():
    """The local-memory cache's counts are read without ``get``'s per-key memcached check
    (``counters._local_counts``): the same keys (the cache's prefix, version and key function),
    the same values, an expired count deleted as ``get`` deletes it, a live one moved to the
    front of the LRU order as ``get`` moves it."""
    from django.core.cache.backends.locmem import LocMemCache

    from phone_verify import counters

    cache = LocMemCache("local-counts-test", {"KEY_PREFIX": "site", "VERSION": 3})
    cache.clear()
    keys = ["w:0:d", "w:1:d", "w:2:d", "w:3:d", "w:4:d"]
    cache.set("w:1:d", 3)
    cache.set("w:2:d", 0)
    cache.set("w:3:d", 4, timeout=0)  # expired already
    cache.set("w:4:d", 2)  # now first in the LRU order, w:1:d last
    assert counters._local_counts(cache, keys) == [0, 3, 0, 0, 2]
    assert cache.make_key("w:3:d") not in cache._cache  # deleted, as get deletes it
    # Each live count read moves to the front: the last read first, the first read last.
    assert list(cache._cache) == [cache.make_key(key) for key in ("w:4:d", "w:2:d", "w:1:d")]
    found = cache.get_many(keys)
    assert [int(found.get(key) or 0) for key in keys] == [0, 3, 0, 0, 2]
    assert counters._counts(cache, keys) == [0, 3, 0, 0, 2]
    assert counters._counts(cache, []) == []
    cache.clear()
