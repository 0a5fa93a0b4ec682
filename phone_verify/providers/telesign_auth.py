"""TeleSign's authentication, apart from the provider's requests and answers as its SDKs keep it
(python_telesign: the signing in ``RestClient``, the callback check in ``util``): the requests
we sign (TSA: HMAC-SHA256 with the API key, which never travels; or Basic), and the callbacks
TeleSign signs with the same key, checked before anything of them is parsed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from .base import InboundCallback

#: The headers a callback's signature may come in; every one is compared.
CALLBACK_HEADERS = ("Authorization", "X-TS-Authorization")
_TSA = re.compile(r"tsa\s+(?P<customer>[^:]*):(?P<signature>\S+)", re.IGNORECASE)


def string_to_sign(
    method: str, resource: str, *, content_type: str, body: str, nonce: str, date: str
) -> str:
    """TeleSign's canonical request, as its official SDKs build it (python_telesign's
    ``RestClient.generate_telesign_headers``, Node's ``generateTeleSignHeaders``): method,
    content type, the ``Date`` header, the x-ts headers, the body (only when there is a content
    type and a body), the resource path without the host or query string."""
    lines = [method, content_type, date, "x-ts-auth-method:HMAC-SHA256", f"x-ts-nonce:{nonce}"]
    if content_type and body:
        lines.append(body)
    lines.append(resource)
    return "\n".join(lines)


def signature(api_key: str, message: str | bytes) -> str:
    """base64(HMAC-SHA256(base64decode(api_key), message)): requests and callbacks alike."""
    data = message.encode() if isinstance(message, str) else message
    return base64.b64encode(
        hmac.new(base64.b64decode(api_key), data, hashlib.sha256).digest()
    ).decode()


def tsa_headers(
    customer_id: str,
    api_key: str,
    method: str,
    resource: str,
    *,
    content_type: str,
    body: str,
    nonce: str,
    date: str,
) -> dict[str, str]:
    """The headers of a request signed with TeleSign's TSA scheme, dated with ``Date`` as the
    official SDKs date every request TeleSign's servers see. (TeleSign also documents an
    ``x-ts-date`` header in place of it, which no current SDK sends: we do not either.)"""
    to_sign = string_to_sign(
        method, resource, content_type=content_type, body=body, nonce=nonce, date=date
    )
    headers = {
        "Authorization": f"TSA {customer_id}:{signature(api_key, to_sign)}",
        "Date": date,
        "x-ts-auth-method": "HMAC-SHA256",
        "x-ts-nonce": nonce,
    }
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def basic_headers(customer_id: str, api_key: str, *, content_type: str) -> dict[str, str]:
    """The headers of a request authenticated with HTTP Basic (``AUTH: basic``): the key
    travels, inside TLS; TSA, the default, never sends it."""
    token = base64.b64encode(f"{customer_id}:{api_key}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def callback_is_signed(callback: InboundCallback, *, customer_id: str, api_key: str) -> bool:
    """Whether the callback's raw body comes signed with ``api_key`` (the body is not read
    when there is no key).

    Every form TeleSign documents is accepted, in ``Authorization`` or ``X-TS-Authorization``:
    ``TSA <customer id>:<signature>`` (the scheme in any case; the customer id, when given, must
    be ours) or the bare signature (what python_telesign's
    ``verify_telesign_callback_signature`` compares the header with).
    """
    if not api_key:
        return False  # an HMAC with an empty key proves nothing: anyone can make it
    try:
        expected = signature(api_key, callback.body)
    except (binascii.Error, ValueError):  # a key that is not base64 (system check E301)
        return False
    claims = [
        _claimed_signature(callback.headers.get(header, ""), customer_id)
        for header in CALLBACK_HEADERS
    ]
    # Every header is compared (no early exit), each in constant time.
    matches = [hmac.compare_digest(claim.encode(), expected.encode()) for claim in claims]
    return any(matches)


def _claimed_signature(value: str, customer_id: str) -> str:
    """The signature one header claims: from ``TSA <customer id>:<signature>`` (any case of the
    scheme; "" if the customer id is not ours), or the bare value; "" when there is none."""
    value = value.strip()
    match = _TSA.fullmatch(value)
    if match is None:
        return "" if " " in value else value
    if not hmac.compare_digest(match["customer"].encode(), customer_id.encode()):
        return ""
    return match["signature"]
