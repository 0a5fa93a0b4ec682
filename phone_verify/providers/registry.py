"""Provider names -> classes. Adding a provider is one module and one line here."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from ..conf import app_settings, setting_key
from .base import Provider

PROVIDER_CLASSES: dict[str, str] = {
    "console": "phone_verify.providers.console.ConsoleProvider",
    "dqe": "phone_verify.providers.dqe.DqeProvider",
    "fortytwo": "phone_verify.providers.fortytwo.FortytwoProvider",
    "telesign": "phone_verify.providers.telesign.TeleSignProvider",
}

_instances: dict[str, Provider] = {}


def get_provider(name: str | None = None) -> Provider:
    """The provider called ``name`` (the configured ``PROVIDER`` by default), with its options."""
    name = name or app_settings.PROVIDER
    provider = _instances.get(name)
    if provider is None:
        try:
            cls = import_string(PROVIDER_CLASSES[name])
        except KeyError:
            raise ImproperlyConfigured(
                f"{setting_key('PROVIDER')}: unknown provider {name!r}; "
                f"choose one of {', '.join(sorted(PROVIDER_CLASSES))}."
            ) from None
        provider = _instances[name] = cls(app_settings.provider_options(name))
    return provider


def providers_in_use() -> list[str]:
    """The names of the providers this site sends through: ``PROVIDER``, then the
    ``FALLBACK_PROVIDERS`` in turn. Only these have a webhook."""
    return [app_settings.PROVIDER, *app_settings.FALLBACK_PROVIDERS]


def clear_cache() -> None:
    _instances.clear()


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    # Providers are built from PHONE_VERIFY (and sign with SECRET_KEY, behave by DEBUG).
    if setting in ("PHONE_VERIFY", "SECRET_KEY", "DEBUG"):
        clear_cache()


setting_changed.connect(_settings_changed)
