"""``manage.py phone_verify_dispatch [--loop] [--interval S]``: the send outbox's dispatcher,
for deployments without Celery beat."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections

from phone_verify.outbox import dispatch_due_sends


class Command(BaseCommand):
    help = (
        "Hand to the broker again every owed send that no provider has taken within "
        "PHONE_VERIFY['SEND_REDISPATCH_AFTER'] seconds, while its code can still be used; "
        "give up, with a timeline entry, those whose verification ended or expired. One pass, "
        "or --loop to keep going."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--loop", action="store_true", help="Keep going until stopped.")
        parser.add_argument(
            "--interval",
            type=float,
            default=10.0,
            help="Seconds between two passes with --loop (default 10).",
        )
        parser.add_argument(
            "--batch-size", type=int, default=100, help="Rows taken per transaction (100)."
        )

    def handle(self, *args: Any, loop: bool, interval: float, batch_size: int, **options: Any):
        while True:
            done = dispatch_due_sends(batch_size=batch_size)
            if done.handed or done.skipped or not loop:
                self.stdout.write(f"Handed over {done.handed} owed sends; skipped {done.skipped}.")
            if not loop:
                return
            close_old_connections()
            time.sleep(interval)
