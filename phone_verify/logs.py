"""``MaskPhoneNumbers``: a logging filter that masks phone numbers in every record of the
``phone_verify`` loggers (installed by the app on start), whatever a message or its arguments
carry: a provider's error text, an exception, a payload.

The app already logs ``masked_phone``; this is the net under that rule, for what slips through.
"""

from __future__ import annotations

import logging
import re

import phonenumbers

from .phones import mask_phone

# International numbers as they appear in text: "+33612345678", "+33 6 12 34 56 78",
# "33612345678" (providers' digits-only form). Not inside a longer run of letters, digits or
# dashes: the pieces of a UUID, a hash or a date are not phone numbers.
_CANDIDATE = re.compile(r"(?<![\w+\-])\+?\d(?:[ .\-]?\d){7,14}(?![\w\-])")
_MIN_DIGITS_WITHOUT_PLUS = 10  # shorter bare digit runs are counts, amounts, ids


def _as_phone_number(text: str) -> str | None:
    """The E.164 form of ``text`` if it is a valid international phone number."""
    digits = re.sub(r"\D", "", text)
    if not text.startswith("+") and len(digits) < _MIN_DIGITS_WITHOUT_PLUS:
        return None
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phone_numbers(text: str) -> list[str]:
    """The phone numbers written in ``text``, as written."""
    return [m.group(0) for m in _CANDIDATE.finditer(text) if _as_phone_number(m.group(0))]


def mask_phone_numbers(text: str) -> str:
    """``text`` with every valid international phone number in it masked."""

    def masked(match: re.Match[str]) -> str:
        e164 = _as_phone_number(match.group(0))
        return mask_phone(e164) if e164 else match.group(0)

    return _CANDIDATE.sub(masked, text)


class MaskPhoneNumbers(logging.Filter):
    """Rewrites each record's message (arguments merged in) and exception text, masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask_phone_numbers(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = mask_phone_numbers(text)
        return True


def install() -> None:
    """Put the filter on the app's logger (its child loggers' records are filtered by their
    own; the app only logs through ``phone_verify``)."""
    logger = logging.getLogger("phone_verify")
    if not any(isinstance(f, MaskPhoneNumbers) for f in logger.filters):
        logger.addFilter(MaskPhoneNumbers())


__all__ = ["MaskPhoneNumbers", "find_phone_numbers", "install", "mask_phone_numbers"]
