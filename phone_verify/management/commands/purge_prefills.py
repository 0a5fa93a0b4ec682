"""``manage.py purge_prefills``: blank identity prefill data older than PREFILL_RETENTION."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from phone_verify.prefills import purge_prefills


class Command(BaseCommand):
    help = "Blank the identity data of prefills older than PHONE_VERIFY['PREFILL_RETENTION']."

    def handle(self, *args: Any, **options: Any) -> None:
        count = purge_prefills()
        self.stdout.write(f"{count} prefill(s) purged.")
