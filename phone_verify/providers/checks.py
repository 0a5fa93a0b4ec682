"""System checks of the providers: the one named exists and is configured, the console
provider is not sending (printing) codes in production, the fallbacks are real and configured
too. Each provider checks its own options (``check_configuration``)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from ..conf import app_settings, setting_key
from .registry import PROVIDER_CLASSES, get_provider


def check_providers() -> list[CheckMessage]:
    """E005 to E007, and what each provider of the chain says of its options."""
    return [*_check_primary(), *_check_fallbacks()]


def _check_primary() -> list[CheckMessage]:
    try:
        provider = get_provider()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="phone_verify.E005")]
    errors = list(provider.check_configuration())
    if (
        provider.name == "console"
        and not settings.DEBUG
        and not app_settings.ALLOW_CONSOLE_PROVIDER
    ):
        errors.append(
            Error(
                "The console provider prints codes instead of sending them, and DEBUG is off.",
                hint=(
                    f"Set {setting_key('PROVIDER')} to a real provider, or "
                    f"{setting_key('ALLOW_CONSOLE_PROVIDER')} to True if this really is a test "
                    "deployment."
                ),
                id="phone_verify.E006",
            )
        )
    return errors


def _check_fallbacks() -> list[CheckMessage]:
    fallbacks = app_settings.FALLBACK_PROVIDERS
    chain = [app_settings.PROVIDER, *fallbacks] if isinstance(fallbacks, list | tuple) else []
    if not chain or len(set(chain)) != len(chain) or not set(chain[1:]) <= set(PROVIDER_CLASSES):
        return [
            Error(
                f"{setting_key('FALLBACK_PROVIDERS')} must list provider names other than "
                f"{setting_key('PROVIDER')}, each once, from "
                f"{', '.join(sorted(PROVIDER_CLASSES))}; not {fallbacks!r}.",
                id="phone_verify.E007",
            )
        ]
    # A fallback is only useful if it is configured as well as the primary.
    return [error for name in fallbacks for error in get_provider(name).check_configuration()]
