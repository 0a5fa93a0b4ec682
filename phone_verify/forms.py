"""Form fields, widgets and the signup-form mixin.

A site adds phone verification to its own form in a few lines::

    class SignupForm(PhoneVerificationFormMixin, UserCreationForm):
        ...

    form = SignupForm(request.POST or None, request=request)
    if form.is_valid():
        user = form.save()  # the user is linked to the verification

With JavaScript, ``phone_verify.js`` sends and checks the code through the REST API and the
final submit carries the verified id. Without it, the "send code" button posts the form, which
comes back with the code field; the final submit checks the code. Both end in ``clean``.
"""

from __future__ import annotations

import datetime as dt
import functools
import gettext as gettext_module
from collections.abc import Mapping
from typing import Any

import phonenumbers
import pycountry
from django import forms
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone, translation
from django.utils.functional import lazy
from django.utils.translation import gettext_lazy as _
from phonenumber_field.formfields import SplitPhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber
from phonenumber_field.widgets import PhoneNumberPrefixWidget

from . import services
from .clients import client_ip
from .conf import app_settings
from .consents import (
    CHANNEL_LABELS,
    CHANNELS,
    CONSENT_KEYS,
    CONTACTS,
    ConsentFlags,
    clean_consents,
    consent_key,
    notice_text,
)
from .exceptions import InvalidConsents, InvalidPhoneNumber, PhoneVerifyError, VerificationClosed
from .models import ConsentRecord, Verification
from .phones import (
    MAX_INPUT_LENGTH,
    ParsedPhone,
    PhoneLike,
    alpha2_to_alpha3,
    parse_phone,
    phone_text,
)
from .session import remembers
from .status import CheckOutcome, Status

#: The name of the submit button that asks for a code (without JavaScript).
SEND_ACTION = "phone_verify_action"
#: How long a verified phone stays good for a signup.
VERIFIED_FOR = dt.timedelta(hours=1)
#: Said to the loser of two signups racing on one verification.
ALREADY_USED = _("This phone number was already used to sign up; verify it again.")


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
        try:
            parsed = parse_phone(number, region or None)
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


# --- the form mixin -------------------------------------------------------------------------

CHECK_MESSAGES = {
    CheckOutcome.INVALID: _("This code is not right."),
    CheckOutcome.EXPIRED: _("This code has expired; ask for a new one."),
    CheckOutcome.LOCKED: _("Too many wrong codes; ask for a new verification later."),
    CheckOutcome.NOT_DELIVERED: _("The code could not be delivered; ask for a new one."),
    CheckOutcome.UNAVAILABLE: _("This verification cannot go on; start a new one."),
}


class PhoneVerificationFormMixin(forms.Form):
    """Adds a verified phone number and consents to a form (a signup form, typically).

    Pass ``request=`` when building the form. The form is valid only once the number is
    verified by this browser session; ``save()`` (on a ModelForm making a user) then links the
    user to the verification and records the consents, in one transaction; it raises
    ``forms.ValidationError`` (also added to the form) when another submission used the
    verification first. ``self.verification`` and ``self.consent_record`` hold the proof.
    """

    phone_number = PhoneNumberField()
    consents = ConsentField()
    verification_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    code = OneTimeCodeField(required=False)

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.verification: Verification | None = None
        self.consent_record: ConsentRecord | None = None
        self.code_sent = False
        # A session now, so that codes sent by the script are tied to this browser.
        request.session.setdefault("phone_verify", True)

    @property
    def phone_verified(self) -> bool:
        return self.verification is not None

    @property
    def other_fields(self) -> list[forms.BoundField]:
        """The form's own fields, to render them around ``{% phone_verification form %}``."""
        ours = set(PhoneVerificationFormMixin.declared_fields)
        return [field for field in self if field.name not in ours]

    def is_valid(self) -> bool:
        # A "send me a code" post is not a submission: the form comes back with the code field.
        return super().is_valid() and not self.code_sent

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone_number")
        if not isinstance(phone, CheckedPhoneNumber):  # (not ``not phone``: that re-validates it)
            return cleaned
        if self.data.get(SEND_ACTION) == "send":
            self._send_code(phone, cleaned.get("consents") or {})
            return cleaned
        verification = self._own_verification(cleaned.get("verification_id"), phone)
        if verification is None:
            if not self.has_error("code"):
                self.add_error("code", _("Verify your phone number: ask for a code first."))
            return cleaned
        if verification.status != Status.VERIFIED:
            verification = self._check(verification, cleaned.get("code") or "")
            if verification is None:
                return cleaned
        if verification.user_id is not None or (
            verification.verified_at and timezone.now() - verification.verified_at > VERIFIED_FOR
        ):
            self.add_error("phone_number", _("Verify your phone number again."))
            return cleaned
        self.verification = verification
        return cleaned

    def save(self, commit: bool = True) -> Any:
        """Save the form's object (the user) and tie it to the verification, all or nothing.

        Two submissions racing on one verification both pass ``clean``; linking is a
        conditional update, so one wins and the other rolls back its user and raises
        ``forms.ValidationError``, now also among the form's errors: show the form again.
        """
        if not commit:
            return super().save(commit=False)  # type: ignore[misc]
        with transaction.atomic():
            instance = super().save(commit=True)  # type: ignore[misc]
            self.link_user(instance)
        return instance

    def link_user(self, user: Any) -> None:
        """Tie ``user`` to the verification, and record the consents ticked (only now: a
        submission that fails records nothing). Run it in a transaction with the user's
        creation (``save`` does); ``forms.ValidationError`` when the verification was used."""
        if self.verification is None:
            return
        try:
            services.link_user(self.verification.pk, user)
        except VerificationClosed:
            error = forms.ValidationError(ALREADY_USED, code="phone_already_used")
            self.add_error(None, error)
            raise error from None
        self.consent_record = self._record_consents(
            self.verification, self.cleaned_data.get("consents") or {}
        )

    # --- steps ------------------------------------------------------------------------------

    def _send_code(self, phone: CheckedPhoneNumber, consents: Mapping[str, bool]) -> None:
        """Without JavaScript: send (or resend) a code, then show the form again."""
        previous = self._own_verification(self.cleaned_data.get("verification_id"), phone)
        try:
            if previous is not None and previous.is_open():
                verification = services.resend(
                    previous.pk, ip=client_ip(self.request), session=self.request.session
                )
            else:
                if not self.request.session.session_key:
                    self.request.session.save()  # a key now: the verification is bound to it
                verification = services.start_verification(
                    phone.parsed,  # checked by the field: the flow takes it as it is
                    consents=consents,
                    ip=client_ip(self.request),
                    user_agent=self.request.META.get("HTTP_USER_AGENT", ""),
                    method=ConsentRecord.Method.FORM,
                    session=self.request.session,
                )
        except PhoneVerifyError as error:
            field = "consents" if isinstance(error, InvalidConsents) else "phone_number"
            self.add_error(field, forms.ValidationError(error.detail, code=error.code))
            return
        self.data = self.data.copy()
        self.data[self.add_prefix("verification_id")] = str(verification.pk)
        self.data[self.add_prefix("code")] = ""
        self.code_sent = True

    def _own_verification(self, verification_id: Any, phone: PhoneLike) -> Verification | None:
        if not verification_id or not remembers(
            self.request.session, "verifications", verification_id
        ):
            return None
        verification = Verification.objects.filter(pk=verification_id).first()
        if verification is None or verification.phone_number != phone_text(phone):
            return None  # another number than the one verified: start again
        return verification

    def _check(self, verification: Verification, code: str) -> Verification | None:
        if not code:
            self.add_error("code", _("Enter the code we sent you."))
            return None
        try:
            result = services.check_code(
                verification.pk, code, ip=client_ip(self.request), session=self.request.session
            )
        except PhoneVerifyError as error:
            self.add_error("code", forms.ValidationError(error.detail, code=error.code))
            return None
        if not result.verified:
            self.add_error(
                "code",
                forms.ValidationError(
                    CHECK_MESSAGES.get(result.outcome, _("This code is not right.")),
                    code=result.outcome.value,
                ),
            )
            return None
        return result.verification

    def _record_consents(self, verification: Verification, flags: dict[str, bool]) -> ConsentRecord:
        """The record made when the code was asked for, or a new one if the boxes changed."""
        record = services.verification_consent(verification)
        if record is not None and record.flags == flags:
            return record
        return services.record_consent(
            verification.phone_number,
            flags,
            verification=verification,
            method=ConsentRecord.Method.FORM,
            ip=client_ip(self.request),
            user_agent=self.request.META.get("HTTP_USER_AGENT", ""),
            supersedes=record,
        )
