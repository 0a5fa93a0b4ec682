"""System checks over ``settings.PHONE_VERIFY``; each message names the key to fix."""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError

from .conf import DEFAULTS, SETTINGS_NAME, app_settings, setting_key
from .phones import alpha3_to_alpha2
from .providers.checks import check_providers
from .sms import HOST_NAME

_INT_BOUNDS: dict[str, tuple[int, int]] = {
    "CODE_LENGTH": (4, 10),
    "CODE_LIFETIME": (30, 86_400),
    "MAX_CHECK_ATTEMPTS": (1, 100),
    "MAX_SENDS": (1, 100),
    "RESEND_COOLDOWN": (0, 86_400),
    "SEND_MAX_RETRIES": (0, 50),
    "SEND_REDISPATCH_AFTER": (1, 3600),
    "POLL_MAX": (0, 50),
    "PREFILL_RETENTION": (60, 30 * 86_400),
    "MAX_BODY_SIZE": (1_024, 10 * 1_048_576),
    "MAX_JSON_DEPTH": (4, 100),  # Python's own parser recurses: keep far from its limit
    "MAX_CALLBACK_REPORTS": (1, 10_000),
}


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    raw = app_settings.raw()
    if not isinstance(raw, Mapping):
        return [Error(f"{SETTINGS_NAME} must be a dict.", id="phone_verify.E001")]
    errors: list[CheckMessage] = [
        Warning(
            f"{setting_key(name)} is not a phone_verify setting; it is ignored.",
            hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
            id="phone_verify.W001",
        )
        for name in raw
        if name not in DEFAULTS
    ]
    for name, (low, high) in _INT_BOUNDS.items():
        value = getattr(app_settings, name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            errors.append(
                Error(
                    f"{setting_key(name)} must be a whole number from {low} to {high}, "
                    f"not {value!r}.",
                    id="phone_verify.E002",
                )
            )
    countries = app_settings.ALLOWED_COUNTRIES
    if not isinstance(countries, list | tuple) or not all(
        isinstance(code, str) and code.isupper() and alpha3_to_alpha2(code) for code in countries
    ):
        errors.append(
            Error(
                f"{setting_key('ALLOWED_COUNTRIES')} must be a list of ISO-3166 alpha-3 codes "
                f"such as ['FRA', 'BEL'], not {countries!r}.",
                id="phone_verify.E003",
            )
        )
    url = urlsplit(str(app_settings.PUBLIC_URL))
    if url.scheme not in ("http", "https") or not url.netloc:
        errors.append(
            Error(
                f"{setting_key('PUBLIC_URL')} must be an absolute http(s) URL, "
                f"not {app_settings.PUBLIC_URL!r}.",
                id="phone_verify.E004",
            )
        )
    domain = app_settings.WEBOTP_DOMAIN
    if not isinstance(domain, str) or (domain and not HOST_NAME.fullmatch(domain)):
        errors.append(
            Error(
                f"{setting_key('WEBOTP_DOMAIN')} must be a lower-case host name such as "
                f"'example.com' (punycode for international names), not {domain!r}.",
                id="phone_verify.E020",
            )
        )
    errors += _check_distribution()
    errors += check_providers()
    errors += _check_abuse_settings()
    errors += _check_counter_cache()
    errors += _check_pumping_guard()
    errors += _check_signing_keys()
    if not any(message.is_serious() for message in errors):  # once the values are well-formed
        errors += _check_standards()
    return errors


@functools.cache
def _other_distributions() -> tuple[str, ...]:
    """Installed distributions other than ours that ship a ``phone_verify`` package."""
    owners = importlib.metadata.packages_distributions().get("phone_verify", [])
    return tuple(name for name in owners if name.lower().replace("_", "-") != "phone-verify")


def _check_distribution() -> list[CheckMessage]:
    # django-phone-verify's import name is ours too: installed together, one's files overwrite
    # the other's, and a site runs a mix of both.
    return [
        Error(
            f"{name} is installed as well as phone_verify: both are imported as phone_verify "
            "and cannot be installed side by side.",
            hint=f"pip uninstall {name} phone_verify, then pip install phone_verify again.",
            id="phone_verify.E010",
        )
        for name in _other_distributions()
    ]


def _check_signing_keys() -> list[CheckMessage]:
    from .signing import GENERATE_KEY, SETTING, signing_keys

    try:
        keys = signing_keys()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="phone_verify.E017")]
    if keys or settings.DEBUG:
        return []
    return [
        Error(
            f"{SETTING} is empty and DEBUG is off: consent records could not be signed.",
            hint=(
                f"Generate a key with {GENERATE_KEY} and keep it secret; "
                "`manage.py phone_verify_keys` then prints the public key auditors need."
            ),
            id="phone_verify.E017",
        )
    ]


def _check_abuse_settings() -> list[CheckMessage]:
    import ipaddress

    from .limits import DEFAULT_LIMITS

    errors: list[CheckMessage] = []
    rules = app_settings.RATE_LIMITS
    if not isinstance(rules, Mapping) or any(
        name not in DEFAULT_LIMITS
        or not (
            value is None
            or (
                isinstance(value, list | tuple)
                and len(value) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in value)
            )
        )
        for name, value in rules.items()
    ):
        errors.append(
            Error(
                f"{setting_key('RATE_LIMITS')} must map limit names to (calls, seconds) or None, "
                f"not {rules!r}.",
                hint=f"Limit names: {', '.join(DEFAULT_LIMITS)}.",
                id="phone_verify.E008",
            )
        )
    proxies = app_settings.TRUSTED_PROXIES
    try:
        if not isinstance(proxies, list | tuple):
            raise ValueError
        for network in proxies:
            ipaddress.ip_network(network, strict=False)
    except ValueError:
        errors.append(
            Error(
                f"{setting_key('TRUSTED_PROXIES')} must be a list of IP addresses or networks "
                f"such as ['10.0.0.0/8'], not {proxies!r}.",
                id="phone_verify.E009",
            )
        )
    return errors


def _check_counter_cache() -> list[CheckMessage]:
    """The rate limits hold only if their cache counts atomically for every process."""
    from .limits import CounterStore, counter_store

    alias = app_settings.RATE_LIMIT_CACHE
    store, backend = counter_store(alias)
    fix = (
        f"Point {setting_key('RATE_LIMIT_CACHE')} at a cache of CACHES shared by every process, "
        "such as Redis (django.core.cache.backends.redis.RedisCache)."
    )
    if store is CounterStore.MISSING:
        return [
            Error(
                f"{setting_key('RATE_LIMIT_CACHE')} names the cache {alias!r}, which is not a "
                "usable cache of CACHES: every send and check would fail.",
                hint=fix,
                id="phone_verify.E401",
            )
        ]
    if store is CounterStore.CANNOT_COUNT:
        return [
            Error(
                f"{setting_key('RATE_LIMIT_CACHE')} names the cache {alias!r} ({backend}), which "
                "cannot count: it keeps nothing or increments by a read then a write, so the rate "
                "limits do not hold (SMS pumping and code guessing go unchecked).",
                hint=fix,
                id="phone_verify.E401",
            )
        ]
    if (
        store is CounterStore.PER_PROCESS
        and not settings.DEBUG
        and not app_settings.RATE_LIMIT_SINGLE_PROCESS
    ):
        return [
            Warning(
                f"{setting_key('RATE_LIMIT_CACHE')} names the cache {alias!r} ({backend}), which "
                "each process keeps for itself: with several server processes every rate limit is "
                "multiplied by their number.",
                hint=(
                    f"{fix} If a single process serves the site, say so with "
                    f"{setting_key('RATE_LIMIT_SINGLE_PROCESS')} = True."
                ),
                id="phone_verify.W401",
            )
        ]
    return []


def _check_pumping_guard() -> list[CheckMessage]:
    from .pumping import GUARD_DEFAULTS

    guard = app_settings.PUMPING_GUARD
    if guard is None:
        return []

    def number(key: str, value: Any) -> bool:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if key == "MIN_CONVERSION":
            return 0 <= value <= 1
        return isinstance(value, int) and value >= 1

    if isinstance(guard, Mapping) and all(
        key in GUARD_DEFAULTS and number(key, value) for key, value in guard.items()
    ):
        return []
    return [
        Error(
            f"{setting_key('PUMPING_GUARD')} must be None (off) or a dict of "
            f"{', '.join(GUARD_DEFAULTS)}: whole numbers from 1, MIN_CONVERSION from 0 to 1; "
            f"not {guard!r}.",
            id="phone_verify.E402",
        )
    ]


def _check_standards() -> list[CheckMessage]:
    """Settings below what the standards ask of one-time codes sent out of band."""
    from .limits import DEFAULT_LIMITS, limit

    nist = "NIST SP 800-63B rev. 4, 3.1.3"
    below = [
        (
            app_settings.CODE_LENGTH < 6,
            "CODE_LENGTH",
            "codes shorter than 6 digits",
            f"{nist} asks for at least 6 random digits (20 bits).",
            "phone_verify.W402",
        ),
        (
            app_settings.CODE_LIFETIME > 600,
            "CODE_LIFETIME",
            "codes valid for more than 10 minutes",
            f"{nist} asks that an out-of-band code be valid for 10 minutes at most.",
            "phone_verify.W403",
        ),
        (
            app_settings.MAX_CHECK_ATTEMPTS > 10,
            "MAX_CHECK_ATTEMPTS",
            "more than 10 guesses per verification",
            "OWASP ASVS 5.0, 6.1.1 and 2.4.1, and NIST SP 800-63B rev. 4, 3.2.2, ask for "
            "rate limiting of guesses; 10 per code keeps the odds of a 6-digit guess at 1 in "
            "100,000.",
            "phone_verify.W404",
        ),
    ]
    off = [name for name in DEFAULT_LIMITS if name.startswith("check_") and limit(name) is None]
    below.append(
        (
            bool(off),
            "RATE_LIMITS",
            f"check limits turned off ({', '.join(off)})",
            "NIST SP 800-63B rev. 4, 3.2.2, and OWASP ASVS 5.0, 2.4.1, ask that failed "
            "guesses be rate limited.",
            "phone_verify.W405",
        )
    )
    return [
        Warning(f"{setting_key(key)}: {what}, below the standard.", hint=hint, id=check_id)
        for failing, key, what, hint, check_id in below
        if failing
    ]


@register(Tags.security, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: what a production site should not leave open."""
    if app_settings.ALLOWED_COUNTRIES:
        return []
    return [
        Warning(
            "Codes may be sent to every country: SMS pumping fraud targets expensive "
            "destinations you do not serve.",
            hint=f"List the countries of your users in {setting_key('ALLOWED_COUNTRIES')}.",
            id="phone_verify.W002",
        )
    ]


# Sends owed for longer than this mean nobody hands them over: the dispatcher is not running.
OUTBOX_STALL = dt.timedelta(minutes=5)


@register(Tags.database)
def check_outbox(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn when owed sends have waited for a provider more than five minutes. A database
    check, as Django runs them: ``manage.py check --database default`` (and ``migrate``)."""
    from .outbox import backlog

    if not databases:
        return []
    try:
        waiting = backlog()
    except DatabaseError:
        return []  # not migrated yet: nothing to say about the outbox
    age = waiting.oldest_age()
    if age is None or age <= OUTBOX_STALL:
        return []
    return [
        Warning(
            f"{waiting.count} code sends have been waiting for a provider, the oldest for "
            f"{int(age.total_seconds() // 60)} minutes: the send outbox's dispatcher is "
            "probably not running.",
            hint="Run Celery beat with phone_verify.beat.BEAT_SCHEDULE (celery worker -B), or "
            "'manage.py phone_verify_dispatch --loop'.",
            id="phone_verify.W016",
        )
    ]
