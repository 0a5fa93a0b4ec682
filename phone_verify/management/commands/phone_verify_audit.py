"""``manage.py phone_verify_audit``: verify every consent record; exit 1 when anything broke."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from phone_verify.audit import audit


class Command(BaseCommand):
    help = (
        "Verify every consent record (Ed25519 signature, the chain, HMAC seals of older records) "
        "and every notice text; one line per broken record, a summary, exit status 1 if any."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        def report(what: str, problems: list[str]) -> None:
            self.stdout.write(f"{what}: {'; '.join(problems)}")

        summary = audit(report)
        self.stdout.write(summary.line())
        if not summary.intact:
            sys.exit(1)
