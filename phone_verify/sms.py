"""The text of our SMS: what fits in one message, and the WebOTP line browsers read.

One SMS holds 160 GSM-7 septets (extension characters such as ``{ } [ ] €`` take two), or 70
UCS-2 characters as soon as one character is outside the GSM alphabet.
"""

from __future__ import annotations

import re

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

from .conf import app_settings

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


#: A host name as WebOTP wants it: ASCII (punycode for IDNs), no scheme, port or path.
HOST_NAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
)


def with_webotp(text: str, code: str) -> str:
    """``text`` ending with the origin-bound line ``@<domain> #<code>`` of the WebOTP API
    (``PHONE_VERIFY["WEBOTP_DOMAIN"]``), so that a browser on that site can offer the code by
    itself; ``text`` unchanged when the setting is empty.

    ``code`` is the code, or a provider's placeholder for it (``{#TFA_CODE}``, ``$$CODE$$``).
    """
    domain = app_settings.WEBOTP_DOMAIN
    return f"{text}\n\n@{domain} #{code}" if domain else text
