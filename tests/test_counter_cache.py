"""The rate limits' cache (``RATE_LIMIT_CACHE``): system checks say when it cannot hold the
counters (an Error) or holds them per process (a Warning), and when it cannot be reached the
limits fail closed: 503 ``service_unavailable`` with ``Retry-After``, nothing sent, no attempt
spent, one log line per incident. The outage is real: a private redis-server, stopped."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.cache.backends.base import BaseCache
from django.core.checks import run_checks
from django.test import Client, override_settings

from phone_verify.models import Verification

from .processes import ROOT, free_port, redis_url, start_redis

PHONE = "+33612345678"


# --- system checks ----------------------------------------------------------------------------


def with_signing_key(**phone_verify) -> dict:
    """``PHONE_VERIFY`` with these keys and the test settings' consent-signing key (with DEBUG
    off a missing key is an error of its own, phone_verify.E017)."""
    return {"CONSENT_SIGNING_KEYS": settings.PHONE_VERIFY["CONSENT_SIGNING_KEYS"], **phone_verify}


def cache_messages(backend: str, *, debug: bool = False, **phone_verify) -> list[tuple]:
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "limits": {"BACKEND": backend, "LOCATION": "/tmp/unused"},
    }
    with override_settings(
        CACHES=caches,
        DEBUG=debug,
        PHONE_VERIFY=with_signing_key(
            RATE_LIMIT_CACHE="limits", ALLOW_CONSOLE_PROVIDER=True, **phone_verify
        ),
    ):
        return [
            (m.id, m.level, m.msg, m.hint)
            for m in run_checks()
            if m.id and m.id.startswith("phone_verify")
        ]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.dummy.DummyCache",
        # Their incr is BaseCache's: a read then a write, which concurrent requests slip under.
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    ],
)
@pytest.mark.parametrize("debug", [False, True])
def test_a_cache_that_cannot_count_is_an_error_naming_the_setting(backend, debug):
    [(check_id, level, message, hint)] = cache_messages(backend, debug=debug)
    assert check_id == "phone_verify.E401" and level == logging.ERROR
    assert "PHONE_VERIFY['RATE_LIMIT_CACHE']" in message and backend in message
    assert "Redis" in hint


def test_a_cache_alias_missing_from_caches_is_an_error():
    with override_settings(PHONE_VERIFY={"RATE_LIMIT_CACHE": "counters"}, DEBUG=True):
        ids = [m.id for m in run_checks() if m.id and m.id.startswith("phone_verify")]
    assert ids == ["phone_verify.E401"]


def test_a_local_memory_cache_is_a_warning_when_debug_is_off():
    local = "django.core.cache.backends.locmem.LocMemCache"
    [(check_id, level, message, hint)] = cache_messages(local)
    assert check_id == "phone_verify.W401" and level == logging.WARNING
    assert "PHONE_VERIFY['RATE_LIMIT_CACHE']" in message and "multiplied" in message
    assert "PHONE_VERIFY['RATE_LIMIT_SINGLE_PROCESS']" in hint
    assert cache_messages(local, debug=True) == []  # runserver on a developer's machine
    assert cache_messages(local, RATE_LIMIT_SINGLE_PROCESS=True) == []  # said on purpose


class ThirdPartyCache(BaseCache):
    """A backend of its own, with an incr of its own (as django-redis has): trusted."""

    def __init__(self, location, params):
        super().__init__(params)

    def incr(self, key, delta=1, version=None):
        raise NotImplementedError


@pytest.mark.parametrize(
    "backend",
    ["django.core.cache.backends.redis.RedisCache", f"{__name__}.ThirdPartyCache"],
)
def test_a_shared_atomic_cache_passes(backend):
    assert cache_messages(backend) == []


def manage_check(cache_url: str, debug: str) -> str:
    """``manage.py check`` of the example project, its output (exit status aside: with DEBUG
    off its console provider is an error of its own)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "CACHE_URL": cache_url,
        "DEBUG": debug,
        "DATABASE_URL": "sqlite://:memory:",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**_environ(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


def _environ() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}


def test_manage_py_check_on_the_example_project():
    dummy = manage_check("dummycache://", debug="True")
    assert "phone_verify.E401" in dummy and "PHONE_VERIFY['RATE_LIMIT_CACHE']" in dummy
    assert "SystemCheckError" in dummy  # an Error stops the command

    local = manage_check("locmemcache://", debug="False")
    assert "phone_verify.W401" in local and "phone_verify.E401" not in local

    shared = manage_check(redis_url(), debug="False")  # a URL only: nothing connects to it
    assert "phone_verify.W401" not in shared and "phone_verify.E401" not in shared


# --- the cache down: fail closed ----------------------------------------------------------


class PrivateRedis:
    """A private redis-server a test stops, and starts again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.server = start_redis(self.port)

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def limits_redis(settings):
    """The rate limits in a private Redis (a real server, stopped and started by the test)."""
    server = PrivateRedis()
    caches = {
        **settings.CACHES,
        "limits": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        },
    }
    phone_verify = {**settings.PHONE_VERIFY, "RATE_LIMIT_CACHE": "limits", "RESEND_COOLDOWN": 0}
    with override_settings(CACHES=caches, PHONE_VERIFY=phone_verify):
        yield server
    server.stop()


def unavailable(answer) -> None:
    assert answer.status_code == 503, answer.content
    assert answer.json() == {
        "code": "service_unavailable",
        "detail": "Codes cannot be sent or checked right now; try again in a minute.",
        "retry_after": 30,
    }
    assert answer["Retry-After"] == "30"


@pytest.mark.services
def test_with_the_counter_cache_down_nothing_is_sent_nor_spent_and_it_is_said_once(
    api, limits_redis, outbox, caplog
):
    started = api.start(PHONE, consents={"sms": True})
    assert started.status_code == 201
    verification_id = started.json()["id"]
    code = outbox.last_code(PHONE)

    limits_redis.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="phone_verify"):
        unavailable(api.start(PHONE, consents={"sms": True}))
        unavailable(api.start("+33698765432", consents={"sms": True}))
        unavailable(api.check(verification_id, code))
        unavailable(api.post(f"verifications/{verification_id}/resend/"))
        # Reading a verification needs no counter.
        assert api.get(f"verifications/{verification_id}/").status_code == 200
    verification = Verification.objects.get()
    assert (verification.attempts, verification.sends, verification.status) == (0, 1, "delivered")
    assert len(outbox) == 1
    # Django logs each 5xx answer on django.request (one line, no traceback); ours is once.
    errors = [r for r in caplog.records if r.name == "phone_verify" and r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]  # once per incident
    assert "rate-limit cache 'limits'" in errors[0].getMessage()
    assert "RedisCache" in errors[0].getMessage() and errors[0].exc_info is None
    assert not any(r.exc_info for r in caplog.records)  # no stack trace at all

    limits_redis.start()  # the same port: the cache is back
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="phone_verify"):
        checked = api.check(verification_id, code)
    assert checked.status_code == 200 and checked.json()["status"] == "verified"
    assert any("answers again" in r.getMessage() for r in caplog.records)


@pytest.mark.services
@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Codes cannot be sent or checked right now; try again in a minute."),
        ("fr", "Impossible d’envoyer ou de vérifier un code pour le moment"),
    ],
)
def test_the_signup_form_says_so_and_sends_nothing(db, limits_redis, outbox, language, message):
    limits_redis.stop()
    browser = Client(headers={"Accept-Language": language})
    browser.get("/signup/")
    page = browser.post(
        "/signup/",
        {
            "username": "ada",
            "password1": "xK9!analytical-engine",
            "password2": "xK9!analytical-engine",
            "phone_number_country": "FR",
            "phone_number_number": "06 12 34 56 78",
            "consents_sms": "1",
            "phone_verify_action": "send",
        },
    )
    assert page.status_code == 200
    assert message in page.content.decode().replace("&#x27;", "'")
    assert not Verification.objects.exists() and len(outbox) == 0
