"""One-time codes: generated with ``secrets``, stored only as a keyed hash, compared in
constant time.

The hash is an HMAC-SHA256 keyed by SECRET_KEY and bound to the verification id: fast (a code has
~20 bits of entropy, so a slow password hasher would add cost without adding safety) and useless
to anyone who reads the table without the key.
"""

from __future__ import annotations

import secrets

from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "phone_verify.codes.v1"


def generate_code(length: int) -> str:
    """A random numeric code of ``length`` digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def hash_code(verification_id: object, code: str) -> str:
    return salted_hmac(_SALT, f"{verification_id}:{code}", algorithm="sha256").hexdigest()


def code_matches(verification_id: object, code: str, code_hash: str) -> bool:
    """Constant-time comparison of ``code`` with a stored hash; an empty hash never matches."""
    return bool(code_hash) and constant_time_compare(hash_code(verification_id, code), code_hash)


def matches_any_secret(given: str, secrets_: list[str] | tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``secrets_`` (several: rotation), in constant time.

    Every secret is compared, so the time taken says nothing about which one came close.
    """
    found = False
    for secret in secrets_:
        found |= bool(secret) and constant_time_compare(given, secret)
    return found
