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
# "33612345678" (providers' digits-only form). Word boundaries keep ids and hashes whole.
_CANDIDATE = re.compile(r"(?<![\w+])\+?\d(?:[ .\-]?\d){7,14}(?![\w])")


def _mask_match(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    try:
        number = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return text
    if not phonenumbers.is_valid_number(number):
        return text
    return mask_phone(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def mask_phone_numbers(text: str) -> str:
    """``text`` with every valid international phone number in it masked."""
    return _CANDIDATE.sub(_mask_match, text)


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


__all__ = ["MaskPhoneNumbers", "install", "mask_phone_numbers"]
