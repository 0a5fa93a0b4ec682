"""Phone numbers: parsing to E.164 with ``phonenumbers``, ISO-3166 country codes, masking."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import phonenumbers
import pycountry
from django.utils.translation import gettext as _
from phonenumbers import PhoneNumberType

from .conf import app_settings
from .exceptions import InvalidPhoneNumber

# Types of number that can receive an SMS. FIXED_LINE_OR_MOBILE is what phonenumbers answers
# for countries (US, CA, ...) whose plans do not tell the two apart.
SMS_CAPABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

MAX_INPUT_LENGTH = 32  # a longer string is not a phone number; refuse it before parsing


@dataclass(frozen=True)
class ParsedPhone:
    """A number ``parse_phone`` accepted: its E.164 text and alpha-3 country ("" for an
    international network). Made by ``parse_phone`` only; the flows take one without checking
    it again."""

    e164: str
    country: str  # ISO-3166 alpha-3

    @property
    def digits(self) -> str:
        """International digits without the ``+`` (what DQE and Fortytwo want)."""
        return self.e164.lstrip("+")


def alpha3_to_alpha2(alpha3: str) -> str | None:
    country = pycountry.countries.get(alpha_3=alpha3.upper()) if len(alpha3) == 3 else None
    return country.alpha_2 if country else None


def alpha2_to_alpha3(alpha2: str) -> str | None:
    country = pycountry.countries.get(alpha_2=alpha2.upper()) if len(alpha2) == 2 else None
    return country.alpha_3 if country else None


#: A phone number as the public API takes it: a string, or a parsed number (django-phonenumber-
#: field's ``PhoneNumber`` is a ``phonenumbers.PhoneNumber``).
PhoneLike = str | phonenumbers.PhoneNumber


def phone_text(value: PhoneLike) -> str:
    """A parsed number as E.164 text (whatever ``PHONENUMBER_DEFAULT_FORMAT`` says); a string
    as it is."""
    if isinstance(value, phonenumbers.PhoneNumber):
        return phonenumbers.format_number(value, phonenumbers.PhoneNumberFormat.E164)
    return value


def region_of(country: str) -> str | None:
    """The phonenumbers region (alpha-2) of an ISO-3166 alpha-3 or alpha-2 code, else None."""
    if len(country) == 2:
        return country.upper() if alpha2_to_alpha3(country) else None
    return alpha3_to_alpha2(country)


def parse_phone(raw: PhoneLike, country: str | None = None) -> ParsedPhone:
    """Parse a number typed by a person into E.164 and the alpha-3 country it belongs to.

    ``raw`` may be a ``PhoneNumber``. ``country`` (ISO-3166 alpha-3, or alpha-2 as
    django-phonenumber-field's widget gives it) is needed only for numbers written in national
    form. Raises ``InvalidPhoneNumber`` (with a precise ``code``) for anything that cannot
    receive our SMS.
    """
    raw = phone_text(raw)
    region = None
    if country:
        region = region_of(country)
        if region is None:
            raise InvalidPhoneNumber(
                _("Unknown country code %(country)r; use ISO-3166 alpha-3, e.g. FRA.")
                % {"country": country[:8]},
                code="invalid_country",
            )
    if not raw or len(raw) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber()
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber() from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber()
    number_region = phonenumbers.region_code_for_number(number)
    if region and number_region != region:
        raise InvalidPhoneNumber(
            _("This number does not belong to the country given."), code="country_mismatch"
        )
    if phonenumbers.number_type(number) not in SMS_CAPABLE_TYPES:
        raise InvalidPhoneNumber(_("This number cannot receive SMS."), code="not_a_mobile_number")
    if number_region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
        # Satellite and international networks (+870, +881, +882, +883): typed mobile, but
        # of no country, costly, and a favourite of SMS pumping. Only where a site says so.
        if not app_settings.ALLOW_INTERNATIONAL_NETWORKS:
            raise InvalidPhoneNumber(
                _("We cannot send codes to satellite or international network numbers."),
                code="number_not_allowed",
            )
        return ParsedPhone(
            e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            country="",
        )
    alpha3 = alpha2_to_alpha3(number_region) or ""
    allowed = app_settings.ALLOWED_COUNTRIES
    if allowed and alpha3 not in allowed:
        raise InvalidPhoneNumber(
            _("We cannot send codes to numbers of this country."), code="country_not_allowed"
        )
    return ParsedPhone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        country=alpha3,
    )


def as_parsed(phone: PhoneLike | ParsedPhone, country: str | None = None) -> ParsedPhone:
    """``phone`` parsed by ``parse_phone``, unless it was already: a ``ParsedPhone`` is checked
    when it is made, so a flow takes one as it is (a number is checked once, where it enters)."""
    return phone if isinstance(phone, ParsedPhone) else parse_phone(phone, country)


def normalize_phone(text: str) -> str:
    """A number typed in any common format (``06 12 34 56 78``, ``+33 6 12...``,
    ``0033612345678``) as E.164; national numbers are read in the first allowed country (France
    when none is set). ``InvalidPhoneNumber`` when it is not a number."""
    region = alpha3_to_alpha2((app_settings.ALLOWED_COUNTRIES or ["FRA"])[0]) or "FR"
    cleaned = text.strip()
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhoneNumber() from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber()
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country_bucket(e164: str, country: str) -> str:
    """The subject of the per-country limits: the alpha-3 country, or for a number of an
    international network (no country) its calling code, ``+881``: such numbers share a bucket
    of their own instead of escaping the cap."""
    if country:
        return country
    try:
        return f"+{phonenumbers.parse(e164, None).country_code}"
    except phonenumbers.NumberParseException:
        return "+"


@functools.lru_cache(maxsize=4096)  # pure, and called several times per request (logs)
def mask_phone(e164: str) -> str:
    """``+33612345678`` -> ``+33 6** ** *6 78``: country code, first and last three digits.

    Used wherever a number is shown to staff or written to a log.
    """
    try:
        number = phonenumbers.parse(e164, None)
        pretty = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        prefix = f"+{number.country_code}"
    except phonenumbers.NumberParseException:
        pretty, prefix = e164 or "", (e164 or "")[:3]
    rest = pretty[len(prefix) :]
    digit_positions = [i for i, ch in enumerate(rest) if ch.isdigit()]
    keep = set(digit_positions[:1] + digit_positions[-3:])
    masked = "".join("*" if ch.isdigit() and i not in keep else ch for i, ch in enumerate(rest))
    return prefix + masked
