"""One-time codes: generated with ``secrets``, stored only as a keyed hash, compared in
constant time.

The hash is an HMAC-SHA256 keyed by SECRET_KEY and bound to the verification id: fast (a code has
~20 bits of entropy, so a slow password hasher would add cost without adding safety) and useless
to anyone who reads the table without the key. A hash made before SECRET_KEY was rotated still
matches through ``SECRET_KEY_FALLBACKS``, as with Django's own signing.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

_SALT = "phone_verify.codes.v1"


def keyed_hash(salt: str, value: str, secret: str | None = None) -> str:
    """HMAC-SHA256 of ``value`` keyed by ``secret`` (SECRET_KEY when None) and ``salt``."""
    return salted_hmac(salt, value, secret=secret, algorithm="sha256").hexdigest()


def keyed_hash_matches(salt: str, value: str, expected: str) -> bool:
    """Whether ``expected`` is the keyed hash of ``value`` under SECRET_KEY or any of
    SECRET_KEY_FALLBACKS; every key is tried, in constant time each."""
    found = False
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        found |= constant_time_compare(keyed_hash(salt, value, secret), expected)
    return bool(expected) and found


def generate_code(length: int) -> str:
    """A random numeric code of ``length`` digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**length):0{length}d}"


def hash_code(verification_id: object, code: str) -> str:
    return keyed_hash(_SALT, f"{verification_id}:{code}")


def code_matches(verification_id: object, code: str, code_hash: str) -> bool:
    """Constant-time comparison of ``code`` with a stored hash; an empty hash never matches."""
    return keyed_hash_matches(_SALT, f"{verification_id}:{code}", code_hash)


def matches_any_secret(given: str, secrets_: list[str] | tuple[str, ...]) -> bool:
    """Whether ``given`` is one of ``secrets_`` (several: rotation), in constant time.

    Every secret is compared, so the time taken says nothing about which one came close.
    """
    found = False
    for secret in secrets_:
        found |= bool(secret) and constant_time_compare(given, secret)
    return found
