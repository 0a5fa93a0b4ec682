"""The app's settings: one ``PHONE_VERIFY`` dict in the project settings, read through
``app_settings``.

Every key is optional. Values are read on each access (after a cheap dict merge that is cached
and dropped when a test overrides settings), so ``override_settings(PHONE_VERIFY=...)`` works.
Mistakes are reported by the system checks in ``checks.py``, each naming the key to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

SETTINGS_NAME = "PHONE_VERIFY"


def setting_key(name: str) -> str:
    """A setting as messages name it, for a developer to find: ``PHONE_VERIFY['CODE_LENGTH']``."""
    return f"{SETTINGS_NAME}[{name!r}]"


DEFAULTS: dict[str, Any] = {
    # Name of the provider that sends codes: "console", "dqe", "fortytwo", "telesign".
    "PROVIDER": "console",
    # Options per provider name, e.g. {"dqe": {"URL": ..., "LICENCE": ...}}.
    "PROVIDER_OPTIONS": {},
    # Length of the codes we generate ourselves (console, TeleSign in "local" code mode).
    "CODE_LENGTH": 6,
    # Seconds a code stays valid; a provider with a shorter lifetime shortens it.
    "CODE_LIFETIME": 300,
    # Wrong codes allowed per verification; the next one locks it.
    "MAX_CHECK_ATTEMPTS": 5,
    # Codes sent per verification, the first one included.
    "MAX_SENDS": 3,
    # Seconds between two sends of one verification.
    "RESEND_COOLDOWN": 30,
    # ISO-3166 alpha-3 codes of the countries codes may be sent to; empty means all.
    "ALLOWED_COUNTRIES": [],
    # Send codes to satellite and international networks (+870, +881, +882, +883), which belong
    # to no country: refused with number_not_allowed unless this is True.
    "ALLOW_INTERNATIONAL_NETWORKS": False,
    # The console provider prints codes: refused when DEBUG is off unless this is True.
    "ALLOW_CONSOLE_PROVIDER": False,
    # Absolute base URL used to build the callback URLs handed to providers.
    "PUBLIC_URL": "http://localhost:8000",
    # Secrets accepted by unsigned webhooks as the password of HTTP Basic credentials carried
    # in the callback URL (several, for rotation; the first is the one handed out).
    "WEBHOOK_SECRETS": [],
    # What an endpoint accepts (see inputs.py): bytes per request body (413 past it), nesting
    # of a JSON body (400 past it), and delivery reports per provider callback (413 past it).
    "MAX_BODY_SIZE": 16_384,
    "MAX_JSON_DEPTH": 16,
    "MAX_CALLBACK_REPORTS": 100,
    # Seconds to wait for a provider: (connect, read).
    "HTTP_TIMEOUT": (3.05, 10),
    # How often the send task retries a provider fault before giving up.
    "SEND_MAX_RETRIES": 4,
    # Seconds after which a send not yet handed to a provider is handed to the broker again by
    # the dispatcher (``phone_verify_dispatch`` or the ``dispatch_sends`` beat task).
    "SEND_REDISPATCH_AFTER": 20,
    # Rate limits, name -> (calls, window in seconds) or None (off); see limits.DEFAULT_LIMITS.
    "RATE_LIMITS": {},
    # The cache (a CACHES alias) holding the rate-limit counters: Redis in production.
    "RATE_LIMIT_CACHE": "default",
    # True says one process serves the site, so a local-memory RATE_LIMIT_CACHE counts right
    # (it silences the warning phone_verify.W401).
    "RATE_LIMIT_SINGLE_PROCESS": False,
    # The pumping guard (see pumping.py): pause sends to a number range whose codes are not
    # being used. Keys over pumping.GUARD_DEFAULTS; None turns it off.
    "PUMPING_GUARD": {},
    # Addresses or networks (CIDR) of the reverse proxies in front of the site: only from those
    # is X-Forwarded-For believed. Empty: the client IP is REMOTE_ADDR.
    "TRUSTED_PROXIES": [],
    # Seconds a verification is kept whole; ``phone_verify_purge`` then deletes it and its
    # delivery events, or keeps only its proof fields when a consent record points to it.
    "VERIFICATION_RETENTION": 90 * 86_400,
    # Longest wait, in seconds, between two tries of a task (exponential backoff, full jitter).
    "RETRY_BACKOFF_MAX": 300,
    # Providers tried in turn when the one sending a verification's first code fails for good
    # (a refusal, or its retries exhausted) before any code went out, e.g. ["telesign"].
    "FALLBACK_PROVIDERS": [],
    # Status polls per code, for providers that are polled (TeleSign); 0: rely on callbacks.
    "POLL_MAX": 8,
    # Seconds identity prefill data is kept before ``phone_verify_purge`` blanks it.
    "PREFILL_RETENTION": 3600,
    # The site's host name (e.g. "example.com") for WebOTP: SMS texts we write end with
    # "@example.com #123456", so that browsers on that site fill the code by themselves. "": off.
    "WEBOTP_DOMAIN": "",
    # Version and language of the consent notice shown to users, kept in each consent record.
    "NOTICE_VERSION": "1",
    # The notice text per language code ({"en": "...", "fr": "..."}), shown above the consent
    # boxes and stored (with its SHA-256) for every record; the app's own text when absent.
    "NOTICE_TEXTS": {},
    # Ed25519 private keys (base64 of the 32-byte seed) that sign consent records: the first
    # signs, all verify (rotation without re-signing). See signing.py.
    "CONSENT_SIGNING_KEYS": [],
    # Data controller and purpose written into each consent record.
    "CONTROLLER": "",
    "CONSENT_PURPOSE": "marketing communications",
}


class AppSettings:
    """Typed, read-only view over ``settings.PHONE_VERIFY`` merged over ``DEFAULTS``."""

    _merged: dict[str, Any] | None = None

    def _all(self) -> dict[str, Any]:
        if self._merged is None:
            user = getattr(settings, SETTINGS_NAME, {}) or {}
            self._merged = {**DEFAULTS, **user} if isinstance(user, Mapping) else dict(DEFAULTS)
        return self._merged

    def reload(self) -> None:
        self._merged = None

    def raw(self) -> Mapping[str, Any]:
        """The user's own dict, unmerged (for the system checks)."""
        value = getattr(settings, SETTINGS_NAME, {})
        return value if value is not None else {}

    def __getattr__(self, name: str) -> Any:
        if name.isupper():
            try:
                return self._all()[name]
            except KeyError:
                pass
        raise AttributeError(name)

    def provider_options(self, provider: str) -> Mapping[str, Any]:
        """The options of one provider (an empty mapping when none are set)."""
        return (self._all().get("PROVIDER_OPTIONS") or {}).get(provider) or {}

    # The annotations below are for type checkers and readers; values come from __getattr__.
    PROVIDER: str
    PROVIDER_OPTIONS: Mapping[str, Mapping[str, Any]]
    CODE_LENGTH: int
    CODE_LIFETIME: int
    MAX_CHECK_ATTEMPTS: int
    MAX_SENDS: int
    RESEND_COOLDOWN: int
    ALLOWED_COUNTRIES: list[str]
    ALLOW_INTERNATIONAL_NETWORKS: bool
    ALLOW_CONSOLE_PROVIDER: bool
    PUBLIC_URL: str
    WEBHOOK_SECRETS: list[str]
    MAX_BODY_SIZE: int
    MAX_JSON_DEPTH: int
    MAX_CALLBACK_REPORTS: int
    HTTP_TIMEOUT: float | tuple[float, float]
    SEND_MAX_RETRIES: int
    SEND_REDISPATCH_AFTER: float
    RETRY_BACKOFF_MAX: float
    RATE_LIMITS: Mapping[str, tuple[int, int] | None]
    RATE_LIMIT_CACHE: str
    RATE_LIMIT_SINGLE_PROCESS: bool
    PUMPING_GUARD: Mapping[str, Any] | None
    TRUSTED_PROXIES: list[str]
    VERIFICATION_RETENTION: int
    FALLBACK_PROVIDERS: list[str]
    POLL_MAX: int
    PREFILL_RETENTION: int
    WEBOTP_DOMAIN: str
    NOTICE_VERSION: str
    NOTICE_TEXTS: Mapping[str, str]
    CONSENT_SIGNING_KEYS: list[str]
    CONTROLLER: str
    CONSENT_PURPOSE: str


app_settings = AppSettings()


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        app_settings.reload()


setting_changed.connect(_reload)
