"""``manage.py phone_verify_purge [--dry-run]``: apply every retention rule
(PHONE_VERIFY['VERIFICATION_RETENTION'] and ['PREFILL_RETENTION'])."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from phone_verify.retention import purge


class Command(BaseCommand):
    help = (
        "Delete verifications and delivery events older than "
        "PHONE_VERIFY['VERIFICATION_RETENTION'] (a verification a consent record points to keeps "
        "its proof fields), and identity prefills as old; blank the identity data of prefills "
        "older than PHONE_VERIFY['PREFILL_RETENTION']. Consent records are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would go; change nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        counts = purge(dry_run=dry_run)
        prefix = "Would remove" if dry_run else "Removed"
        self.stdout.write(
            f"{prefix}: "
            + ", ".join(f"{count} {what.replace('_', ' ')}" for what, count in counts.items())
        )
