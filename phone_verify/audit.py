"""The audit of every consent record: signatures, the chain, old HMAC seals, notice texts.

``audit`` streams the records in chain order a chunk at a time (memory stays flat whatever
their number) and hands each broken one to a callback; ``phone_verify_audit`` prints them and
the admin shows the same verdict per record (``with_chain_context`` + ``proofs.check_record``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F, OuterRef, QuerySet, Subquery

from .models import ConsentChainHead, ConsentRecord, NoticeText
from .proofs import check_head, check_record

CHUNK = 2000  # records fetched per round trip


@dataclass
class AuditSummary:
    records: int = 0
    signed: int = 0
    broken: int = 0
    notices: int = 0
    chain_problems: int = 0

    @property
    def intact(self) -> bool:
        return not self.broken and not self.chain_problems

    def line(self) -> str:
        verdict = "intact" if self.intact else "BROKEN"
        return (
            f"phone_verify_audit: {verdict}: {self.records} records verified "
            f"({self.signed} signed and chained, {self.records - self.signed} sealed only), "
            f"{self.broken} broken; {self.notices} notice texts; "
            f"{self.chain_problems} problem(s) with the chain head"
        )


def _for_checking(queryset: QuerySet[ConsentRecord]) -> QuerySet[ConsentRecord]:
    # The digests a record's proof names, from their rows, in the same query.
    return queryset.annotate(
        supersedes_digest=F("supersedes__digest"), notice_sha256=F("notice__sha256")
    )


def audit(report: Callable[[str, list[str]], None]) -> AuditSummary:
    """Check everything; ``report(what, problems)`` for each broken record, text or chain end."""
    summary = AuditSummary()
    records = _for_checking(ConsentRecord.objects.all()).order_by(
        F("sequence").asc(nulls_first=True), "id"
    )
    previous: tuple[int, str] | None = None
    for record in records.iterator(chunk_size=CHUNK):
        summary.records += 1
        problems = check_record(
            record,
            previous=previous,
            supersedes_digest=record.supersedes_digest,
            notice_sha256=record.notice_sha256,
        )
        if record.sequence is not None:
            summary.signed += 1
            previous = (record.sequence, record.digest)
        if problems:
            summary.broken += 1
            where = f" (sequence {record.sequence})" if record.sequence is not None else ""
            report(f"record {record.pk}{where}", problems)
    for notice in NoticeText.objects.order_by("id").iterator(chunk_size=100):
        summary.notices += 1
        if not notice.text_is_intact():
            summary.broken += 1
            report(f"notice text {notice.pk}", ["text does not match its SHA-256"])
    head_problems = check_head(ConsentChainHead.objects.filter(pk=1).first(), previous)
    if head_problems:
        summary.chain_problems = len(head_problems)
        report("chain", head_problems)
    return summary


def with_chain_context(queryset: QuerySet[ConsentRecord]) -> QuerySet[ConsentRecord]:
    """Annotate what ``verdict`` needs to check records one at a time (the admin's list): the
    sequence and digest of the signed record before each, and the digest it supersedes."""
    before = ConsentRecord.objects.filter(sequence__lt=OuterRef("sequence")).order_by("-sequence")
    return _for_checking(queryset).annotate(
        previous_sequence=Subquery(before.values("sequence")[:1]),
        previous_digest_found=Subquery(before.values("digest")[:1]),
    )


def verdict(record: ConsentRecord) -> list[str]:
    """The problems of one record annotated by ``with_chain_context``."""
    previous_sequence = getattr(record, "previous_sequence", None)
    return check_record(
        record,
        previous=(previous_sequence, record.previous_digest_found)
        if previous_sequence is not None
        else None,
        supersedes_digest=record.supersedes_digest,
        notice_sha256=record.notice_sha256,
    )
