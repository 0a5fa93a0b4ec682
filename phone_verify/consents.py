"""The consent grid: four channels for the primary contact (1) and the secondary contacts 2-5.

Field names follow the API's flat keys: ``sms email phone post`` for contact 1 and the same with
a suffix for the others (``sms2`` ... ``post5``), as DQE's SMS2-5, PHONE2-5, EMAIL2-5, POST2-5.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .exceptions import InvalidConsents

CHANNELS: tuple[str, ...] = ("sms", "email", "phone", "post")
CHANNEL_LABELS = {"sms": _("SMS"), "email": _("Email"), "phone": _("Phone"), "post": _("Post")}
CONTACTS: tuple[int, ...] = (1, 2, 3, 4, 5)


def consent_key(channel: str, contact: int) -> str:
    return channel if contact == 1 else f"{channel}{contact}"


CONSENT_KEYS: tuple[str, ...] = tuple(
    consent_key(channel, contact) for contact in CONTACTS for channel in CHANNELS
)


class ConsentFlags(dict[str, bool]):
    """The consent grid once checked: all 20 keys, a strict boolean each (what
    ``clean_consents`` answers). The flows take one as it is: consents are checked once, where
    they enter (the API's request, the form's field), never again on their way."""


def clean_consents(consents: Mapping[str, object] | None) -> ConsentFlags:
    """All 20 keys with a strict boolean each; missing keys are False.

    Raises ``InvalidConsents`` for an unknown key or a value that is not exactly True/False
    (``"yes"``, ``1`` and ``null`` are refused: consent must be unambiguous).
    """
    if consents is None:
        consents = {}
    if not isinstance(consents, Mapping):
        raise InvalidConsents(_("Consents must be an object of channel: true/false."))
    unknown = sorted(str(key)[:20] for key in consents if key not in CONSENT_KEYS)
    if unknown:
        raise InvalidConsents(
            _("Unknown consent keys: %(keys)s.") % {"keys": ", ".join(unknown[:5])},
            code="unknown_consent_key",
        )
    not_bool = sorted(key for key, value in consents.items() if not isinstance(value, bool))
    if not_bool:
        raise InvalidConsents(
            _("Consent values must be true or false: %(keys)s.") % {"keys": ", ".join(not_bool)},
            code="invalid_consent_value",
        )
    return ConsentFlags({key: bool(consents.get(key, False)) for key in CONSENT_KEYS})


def as_flags(consents: Mapping[str, object] | None) -> ConsentFlags:
    """``consents`` checked by ``clean_consents``, unless they were already."""
    return consents if isinstance(consents, ConsentFlags) else clean_consents(consents)


def granted(flags: Mapping[str, bool]) -> list[str]:
    return [key for key in CONSENT_KEYS if flags.get(key)]


def without(flags: Mapping[str, bool], withdrawn: Iterable[str] | None) -> ConsentFlags:
    """``flags`` with the ``withdrawn`` keys turned off (all of them when ``withdrawn`` is None)."""
    withdrawn = set(CONSENT_KEYS if withdrawn is None else withdrawn)
    unknown = withdrawn - set(CONSENT_KEYS)
    if unknown:
        raise InvalidConsents(
            _("Unknown consent keys: %(keys)s.") % {"keys": ", ".join(sorted(unknown))},
            code="unknown_consent_key",
        )
    return ConsentFlags(
        {key: bool(flags.get(key)) and key not in withdrawn for key in CONSENT_KEYS}
    )


DEFAULT_NOTICE = _(
    "We contact you only through the channels you tick, for the purpose stated on this page. "
    "You can withdraw your consent at any time from your account."
)


def notice_text(language: str | None = None) -> str:
    """The consent notice shown in ``language`` (the active one when None): the project's
    ``NOTICE_TEXTS`` entry for it (or for its base language), else the app's own text."""
    language = language if language is not None else (translation.get_language() or "")
    texts = app_settings.NOTICE_TEXTS or {}
    text = texts.get(language) or texts.get(language.split("-")[0])
    if text:
        return str(text)
    with translation.override(language or None):
        return str(DEFAULT_NOTICE)
