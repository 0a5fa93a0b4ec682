"""The proof of consent: each record signed with Ed25519 and chained to the one before it.

Every new consent record gets, in the transaction that inserts it:

- ``sequence``: its position in one chain over all records (1, 2, 3, ...);
- ``signed_record``: the canonical JSON of its proof fields (``proof_fields``), including the
  sequence, the digest of the record before it in the chain and the digest of the record it
  supersedes;
- ``digest``: the SHA-256 of those bytes, and ``key_id`` + ``signature``: Ed25519 over them.

Appends take a lock on the one ``ConsentChainHead`` row, so concurrent writers form one line;
the head then holds the newest sequence and digest, signed. Changing a record breaks its
signature or its match with its row; deleting one leaves a gap in the sequence and a digest
that no longer links; deleting the newest ones leaves the head pointing past the end;
reordering breaks the links. ``check_record`` is the one place those rules are checked (the
audit command and the admin use it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Model

from .consents import CONSENT_KEYS
from .signing import canonical_json, digest, sign, verify

# The models (models/consents.py) call this module when a record is saved: records and the
# chain head are typed as Django models here, and the head's model is looked up by name, so
# that this module (a base module) never imports the models (no import cycle, no upward import).
ConsentRecord = Model
ConsentChainHead = Model


def _instant(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with its offset: the same text whatever the database gives back."""
    return value.astimezone(dt.UTC).isoformat() if value else None


def _ip(record: ConsentRecord) -> str | None:
    # The form the database keeps (IPv6 normalized), so the row and its proof compare equal.
    return record._meta.get_field("ip").get_prep_value(record.ip) or None


def row_fields(
    record: ConsentRecord, *, supersedes_digest: str | None, notice_sha256: str | None
) -> dict[str, Any]:
    """The proof fields that the record's own row holds, as they appear in ``signed_record``
    (with the digests of the record it supersedes and of its notice text, from their rows)."""
    return {
        "sequence": record.sequence,
        "previous_digest": record.previous_digest or None,
        "phone_number": record.phone_number,
        "action": record.action,
        "consents": {key: bool(getattr(record, key)) for key in CONSENT_KEYS},
        "recorded_at": _instant(record.created_at),
        "method": record.method,
        "notice": {
            "version": record.notice_version,
            "language": record.language,
            "sha256": notice_sha256 or None,
        },
        "controller": record.controller,
        "purpose": record.purpose,
        "ip": _ip(record),
        "user_agent": record.user_agent,
        "recorded_by": record.recorded_by,
        "supersedes": supersedes_digest or None,
        "verification_id": str(record.verification_id) if record.verification_id else None,
    }


def proof_fields(record: ConsentRecord) -> dict[str, Any]:
    """What is signed: the row's fields and the proving verification as known when recording
    (provider, reference, verified time: the verification row itself may be purged later)."""
    fields = row_fields(
        record,
        supersedes_digest=record.supersedes.digest if record.supersedes else None,
        notice_sha256=record.notice.sha256 if record.notice else None,
    )
    verification = record.verification
    fields["verification"] = (
        {
            "provider": verification.provider,
            "reference": verification.provider_reference,
            "status": verification.status,
            "verified_at": _instant(verification.verified_at),
        }
        if verification
        else None
    )
    return fields


def head_message(sequence: int, head_digest: str) -> bytes:
    return canonical_json({"chain_head": {"sequence": sequence, "digest": head_digest}})


def append(records: Sequence[ConsentRecord], insert: Callable[[], object]) -> None:
    """Sign ``records`` in order, link each after the one before, and ``insert`` them (one
    ``save`` or one ``bulk_create``), all in one transaction.

    Holds the chain head's row lock from choosing the first sequence number until the commit:
    the cost is that appends are serialized (see bench/consents.py); the gain is one unbroken
    chain, whoever writes.
    """
    if not records:
        return
    # No savepoint of its own: a failure here fails the caller's transaction anyway.
    with transaction.atomic(savepoint=False):
        heads = apps.get_model("phone_verify", "ConsentChainHead").objects.select_for_update()
        # The migration makes the row; get_or_create only after a flush (tests) emptied it.
        head = heads.filter(pk=1).first() or heads.get_or_create(pk=1)[0]
        for record in records:
            record.sequence = head.sequence + 1
            record.previous_digest = head.digest
            message = canonical_json(proof_fields(record))
            record.signed_record = message.decode("utf-8")
            record.digest = digest(message)
            record.key_id, record.signature = sign(message)
            head.sequence, head.digest = record.sequence, record.digest
        insert()
        head.key_id, head.signature = sign(head_message(head.sequence, head.digest))
        head.save(update_fields=["sequence", "digest", "key_id", "signature"])


def check_record(
    record: ConsentRecord,
    *,
    previous: tuple[int, str] | None,
    supersedes_digest: str | None,
    notice_sha256: str | None,
) -> list[str]:
    """What is wrong with one record; an empty list when it is intact.

    ``previous`` is the (sequence, digest) of the signed record before it in the chain (None
    for the first one); ``supersedes_digest`` and ``notice_sha256`` the digests of the record
    it supersedes and of its notice text. A record older than signatures is checked by its HMAC
    seal alone.
    """
    problems = []
    if not record.seal_is_valid():
        problems.append("seal does not match the record")
    if record.sequence is None:
        return problems
    message = record.signed_record.encode("utf-8")
    if not verify(record.key_id, message, record.signature):
        problems.append(f"signature invalid (key {record.key_id or '-'})")
    if digest(message) != record.digest:
        problems.append("digest does not match the signed record")
    try:
        signed = json.loads(record.signed_record)
    except ValueError:
        signed = {}
    changed = [
        name
        for name, value in row_fields(
            record, supersedes_digest=supersedes_digest, notice_sha256=notice_sha256
        ).items()
        if not isinstance(signed, dict) or signed.get(name) != value
    ]
    if changed:
        problems.append(f"row differs from what was signed: {', '.join(changed)}")
    expected = 1 if previous is None else previous[0] + 1
    if record.sequence > expected:
        missing = record.sequence - expected
        problems.append(
            f"{missing} record(s) missing before it (sequence {expected}-{record.sequence - 1})"
        )
    elif record.sequence < expected:
        problems.append(f"out of order: sequence {record.sequence} after {expected - 1}")
    if record.previous_digest != (previous[1] if previous else ""):
        problems.append("does not link to the record before it (previous digest differs)")
    return problems


def check_head(head: ConsentChainHead | None, last: tuple[int, str] | None) -> list[str]:
    """What is wrong with the chain's end: the head names the last record there should be."""
    if head is None or head.sequence == 0:
        return ["chain head missing while signed records exist"] if last else []
    if not verify(head.key_id, head_message(head.sequence, head.digest), head.signature):
        return ["chain head signature invalid"]
    if last is None or last[0] < head.sequence:
        count = head.sequence - (last[0] if last else 0)
        return [f"the newest {count} record(s) are missing (the chain head is #{head.sequence})"]
    if last != (head.sequence, head.digest):
        return [f"the newest record does not match the chain head (#{head.sequence})"]
    return []
