"""Consent receipts: a person's signed records, checkable offline with the public keys alone.

Format ``phone_verify.consent-receipt/1`` (documented in docs/consent.md, stable)::

    {"format": "phone_verify.consent-receipt/1",
     "records": [{"record": {...}, "digest": "<sha256 hex>", "key_id": "...",
                  "signature": "<base64 Ed25519>"}],
     "public_keys": {"<key_id>": "<base64 raw 32-byte Ed25519 public key>"}}

``record`` is exactly what was signed: its canonical JSON (``signing.canonical_json``) is the
signed message and ``digest`` its SHA-256. Records older than signatures (HMAC seal only) are
not in receipts: nobody but the site could check them.
"""

from __future__ import annotations

import json
from typing import Any

from .models import ConsentRecord
from .signing import public_keys

FORMAT = "phone_verify.consent-receipt/1"


def receipt(phone_number: str) -> dict[str, Any]:
    """The receipt of every signed record of ``phone_number`` (E.164), oldest first."""
    records = (
        ConsentRecord.objects.for_phone(phone_number)
        .filter(sequence__isnull=False)
        .order_by("sequence")
        .only("signed_record", "digest", "key_id", "signature")
    )
    return {
        "format": FORMAT,
        "records": [
            {
                "record": json.loads(record.signed_record),
                "digest": record.digest,
                "key_id": record.key_id,
                "signature": record.signature,
            }
            for record in records
        ],
        "public_keys": public_keys(),
    }


def receipt_json(phone_number: str) -> str:
    """The receipt as the file handed out (the command's output, the "My consents" download)."""
    return json.dumps(receipt(phone_number), ensure_ascii=False, indent=2) + "\n"
