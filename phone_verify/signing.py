"""Ed25519 keys that sign consent records: proof anyone can check with a public key alone.

``PHONE_VERIFY["CONSENT_SIGNING_KEYS"]`` lists private keys, each the base64 of a 32-byte
Ed25519 seed. The first one signs new records; all of them verify, so a new key goes in front
of the old one and nothing is ever re-signed. A key's id is derived from its public key (the
first 16 hex digits of its SHA-256), so the same key has the same id on every server.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.core.exceptions import ImproperlyConfigured

from .conf import app_settings, setting_key

SETTING = setting_key("CONSENT_SIGNING_KEYS")
#: How to make a signing key, said where one is missing.
GENERATE_KEY = '`python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"`'


def canonical_json(value: Any) -> bytes:
    """The bytes that are signed and hashed: sorted keys, no spaces, UTF-8 (as JWS, in-toto)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def digest(message: bytes) -> str:
    return hashlib.sha256(message).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_base64(self) -> str:
        return base64.b64encode(self.public_raw).decode("ascii")


def key_id_of(public_key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()[:16]


def load_key(seed_base64: str) -> SigningKey:
    """A key from the base64 of its 32-byte seed; ``ValueError`` when it is not one."""
    try:
        seed = base64.b64decode(str(seed_base64).strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(seed) != 32:
        raise ValueError(f"{len(seed)} bytes instead of 32")
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return SigningKey(key_id_of(private.public_key()), private)


@functools.cache
def _keys(seeds: tuple[str, ...]) -> tuple[SigningKey, ...]:
    keys = []
    for position, seed in enumerate(seeds):
        try:
            keys.append(load_key(seed))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"{SETTING}[{position}] is not the base64 of a 32-byte Ed25519 seed ({error})."
            ) from None
    return tuple(keys)


def signing_keys() -> tuple[SigningKey, ...]:
    """The configured keys, the signing one first (``ImproperlyConfigured`` when malformed)."""
    seeds = app_settings.CONSENT_SIGNING_KEYS or ()
    if isinstance(seeds, str):
        seeds = (seeds,)
    return _keys(tuple(seeds))


def current_key() -> SigningKey:
    keys = signing_keys()
    if not keys:
        raise ImproperlyConfigured(
            f"{SETTING} is empty: consent records cannot be signed. Generate a key with "
            f"{GENERATE_KEY}."
        )
    return keys[0]


def sign(message: bytes) -> tuple[str, str]:
    """``(key_id, base64 signature)`` of ``message`` by the current key."""
    key = current_key()
    return key.key_id, base64.b64encode(key.private.sign(message)).decode("ascii")


def verify(key_id: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) over ``message`` is valid for the key ``key_id``."""
    key = next((key for key in signing_keys() if key.key_id == key_id), None)
    if key is None:
        return False
    try:
        key.private.public_key().verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def public_keys() -> dict[str, str]:
    """``{key_id: base64 raw public key}``: what an auditor is given."""
    return {key.key_id: key.public_base64 for key in signing_keys()}
