"""What fits in one SMS: 160 GSM-7 septets (extension characters such as ``{ } [ ] €`` take two),
or 70 UCS-2 characters as soon as one character is outside the GSM alphabet."""

from __future__ import annotations

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7_LIMIT = 160
UCS2_LIMIT = 70


def sms_length(text: str) -> tuple[int, int]:
    """``(units, limit)`` of ``text`` as one SMS: septets out of 160, or UCS-2 units out of 70."""
    try:
        return len(text.encode("gsm03.38")), GSM7_LIMIT
    except UnicodeEncodeError:
        return len(text.encode("utf-16-be")) // 2, UCS2_LIMIT


def fits_one_sms(text: str) -> bool:
    units, limit = sms_length(text)
    return units <= limit
