"""The fields a form asks a phone number, consents and a code with, and their widgets: usable
alone in any form, as ``PhoneVerificationFormMixin`` uses them."""

from __future__ import annotations

import functools
import gettext as gettext_module
from collections.abc import Mapping
from typing import Any

import phonenumbers
import pycountry
from django import forms
from django.utils import translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import SplitPhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber
from phonenumber_field.widgets import PhoneNumberPrefixWidget

from ..conf import app_settings
from ..consents import (
    CHANNEL_LABELS,
    CHANNELS,
    CONSENT_KEYS,
    CONTACTS,
    ConsentFlags,
    clean_consents,
    consent_key,
    notice_text,
)
from ..exceptions import InvalidConsents, InvalidPhoneNumber
from ..phones import MAX_INPUT_LENGTH, ParsedPhone, alpha2_to_alpha3, parse_phone

# --- phone number ---------------------------------------------------------------------------


@functools.cache
def _country_names(language: str) -> gettext_module.NullTranslations:
    return gettext_module.translation(
        "iso3166-1", pycountry.LOCALES_DIR, languages=[language], fallback=True
    )


@functools.cache
def country_choices(language: str, allowed: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(region, "Name (+code)") of every country we can text, named in ``language``.

    Regions are ISO-3166 alpha-2, as django-phonenumber-field's widget has them; ``allowed``
    holds alpha-3 codes (``ALLOWED_COUNTRIES``). Names come from pycountry's translations, so
    the widget needs no babel.
    """
    names = _country_names(language.split("-")[0])
    choices = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        alpha3 = alpha2_to_alpha3(region)
        country = pycountry.countries.get(alpha_2=region)
        if not alpha3 or country is None or (allowed and alpha3 not in allowed):
            continue
        code = phonenumbers.country_code_for_region(region)
        choices.append((region, f"{names.gettext(country.name)} (+{code})"))
    return sorted(choices, key=lambda choice: choice[1].casefold())


def _current_country_choices() -> list[tuple[str, str]]:
    # Called on each render and validation (Django's callable choices): the user's language
    # now, and the ALLOWED_COUNTRIES in force now.
    language = translation.get_language() or "en"
    return [("", "---------"), *country_choices(language, tuple(app_settings.ALLOWED_COUNTRIES))]


class PhoneNumberWidget(PhoneNumberPrefixWidget):
    """django-phonenumber-field's prefix widget: a country list (with dialling codes, in the
    user's language) and the national number, posted as ``<name>_country`` and
    ``<name>_number``."""

    template_name = "phone_verify/widgets/phone_number.html"

    def __init__(self, widgets: Any, attrs: dict[str, Any] | None = None) -> None:
        country, number = widgets
        super().__init__({"country": country, "number": number}, attrs)

    def decompress(self, value: Any) -> list[str | None]:
        """A ``PhoneNumber`` or E.164 text -> [region, national number as people write it]."""
        if isinstance(value, str) and value:
            try:
                value = PhoneNumber.from_string(value)
            except phonenumbers.NumberParseException:
                return [None, value]
        if isinstance(value, phonenumbers.PhoneNumber):
            return [
                phonenumbers.region_code_for_number(value),
                phonenumbers.format_number(value, phonenumbers.PhoneNumberFormat.NATIONAL),
            ]
        return [None, None]

    def id_for_label(self, id_: str) -> str:
        return f"{id_}_number" if id_ else ""  # the label names the number, the list has its own


class CheckedPhoneNumber(PhoneNumber):
    """What ``PhoneNumberField`` cleans to: django-phonenumber-field's ``PhoneNumber``, with
    what our rules found (``parsed``: E.164 and country), which the flow takes as it is."""

    parsed: ParsedPhone


class PhoneNumberField(SplitPhoneNumberField):
    """A mobile number that can receive our SMS: django-phonenumber-field's split field, cleaned
    to a ``PhoneNumber`` (``.as_e164``: ``+33612345678``) by our rules (mobile numbers of the
    allowed countries, errors in the user's language).

    ``region`` (ISO-3166 alpha-2) is the country selected at first; django-phonenumber-field's
    ``PHONENUMBER_DEFAULT_REGION`` when not given. An international number (``+32...``) says
    its country itself, whatever is selected.
    """

    widget = PhoneNumberWidget
    # ``compress`` checks the number by our rules (stricter): not a second time by the library's.
    default_validators: list[Any] = []

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Mobile phone number"))
        kwargs.setdefault("require_all_fields", False)
        super().__init__(**kwargs)

    def prefix_field(self) -> forms.Field:
        field = forms.ChoiceField(choices=_current_country_choices, required=False)
        field.widget.attrs.update({"autocomplete": "country", "aria-label": _("Country")})
        return field

    def number_field(self) -> forms.Field:
        field = forms.CharField(max_length=MAX_INPUT_LENGTH)
        field.widget.input_type = "tel"
        field.widget.attrs.update({"autocomplete": "tel-national", "inputmode": "tel"})
        return field

    def compress(self, data_list: list[str]) -> CheckedPhoneNumber | str:
        if not data_list or not data_list[1]:
            return self.empty_value
        region, number = data_list
        if number.lstrip().startswith(("+", "00")):
            region = ""  # an international number says its country itself
        return checked_phone(number, region or None)


def checked_phone(value: PhoneNumber | str, region: str | None = None) -> CheckedPhoneNumber:
    """``value`` checked by our rules (``parse_phone``), as the ``CheckedPhoneNumber`` the flow
    takes as it is; ``forms.ValidationError`` in the user's language when it is not a mobile
    number we can text."""
    if isinstance(value, PhoneNumber):
        value = value.as_e164 or value.raw_input
    try:
        parsed = parse_phone(value, region)
    except InvalidPhoneNumber as error:
        raise forms.ValidationError(error.detail, code=error.code) from None
    checked = CheckedPhoneNumber.from_string(parsed.e164)
    checked.parsed = parsed
    return checked


# --- consents -------------------------------------------------------------------------------


class ConsentWidget(forms.Widget):
    """The consent grid: the four channels for the primary contact, and for contacts 2-5
    (inside a ``<details>`` the user opens, or that the script reveals one by one)."""

    template_name = "phone_verify/widgets/consents.html"

    def value_from_datadict(self, data: Mapping[str, Any], files: Any, name: str) -> Any:
        return {key: f"{name}_{key}" in data for key in CONSENT_KEYS}

    def value_omitted_from_data(self, data: Mapping[str, Any], files: Any, name: str) -> bool:
        return False  # unticked boxes are not sent: absence means "no"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        flags = value if isinstance(value, Mapping) else {}
        rows = []
        for contact in CONTACTS:
            row_label = _("You") if contact == 1 else _("Contact %(n)s") % {"n": contact}
            cells = []
            for channel in CHANNELS:
                key = consent_key(channel, contact)
                cells.append(
                    {
                        "key": key,
                        "name": f"{name}_{key}",
                        "id": f"id_{name}_{key}",
                        "label": CHANNEL_LABELS[channel],
                        # Read aloud for the box, as the grid's headers are not next to it.
                        "aria_label": _("%(contact)s: %(channel)s")
                        % {"contact": row_label, "channel": CHANNEL_LABELS[channel]},
                        "checked": bool(flags.get(key)),
                    }
                )
            rows.append(
                {
                    "contact": contact,
                    "label": row_label,
                    "cells": cells,
                    "used": any(cell["checked"] for cell in cells),
                }
            )
        context["widget"]["rows"] = rows
        context["widget"]["channels"] = [CHANNEL_LABELS[channel] for channel in CHANNELS]
        return context


class ConsentField(forms.Field):
    """The consent flags: all 20 keys, each True or False."""

    widget = ConsentWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("label", _("How may we contact you?"))
        # The notice in the language of the request it is rendered for: the text each consent
        # record stores as what its person read.
        kwargs.setdefault("help_text", lazy(notice_text, str)())
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> ConsentFlags:
        try:
            return clean_consents(value if isinstance(value, Mapping) else {})
        except InvalidConsents as error:
            raise forms.ValidationError(error.detail, code=error.code) from None


# --- one-time code --------------------------------------------------------------------------


class OneTimeCodeWidget(forms.TextInput):
    """Lets phones offer the code from the SMS (``autocomplete="one-time-code"``)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        defaults = {
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "autocapitalize": "off",
            "spellcheck": "false",
            "maxlength": "20",
        }
        super().__init__({**defaults, **(attrs or {})})


class OneTimeCodeField(forms.CharField):
    widget = OneTimeCodeWidget

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Code received by SMS"))
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
