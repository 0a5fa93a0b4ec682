"""``manage.py phone_verify_keys``: the public consent-signing keys, what an auditor is given."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from phone_verify.signing import SETTING, signing_keys


class Command(BaseCommand):
    help = f"Print the id and base64 raw Ed25519 public key of each key in {SETTING}."

    def handle(self, *args: Any, **options: Any) -> None:
        for position, key in enumerate(signing_keys()):
            role = "signs new records" if position == 0 else "verifies older records"
            self.stdout.write(f"{key.key_id} {key.public_base64} ({role})")
