"""``manage.py phone_verify_receipt NUMBER``: the consent receipt of a number, JSON on stdout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from phone_verify.exceptions import PhoneVerifyError
from phone_verify.phones import normalize_phone
from phone_verify.receipts import receipt_json


class Command(BaseCommand):
    help = "Print the signed consent receipt of a phone number (format in the README)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("number", help="The number in any common format.")

    def handle(self, *args: Any, number: str, **options: Any) -> None:
        try:
            e164 = normalize_phone(number)
        except PhoneVerifyError as error:
            raise CommandError(f"{number!r}: {error.detail}") from None
        self.stdout.write(receipt_json(e164), ending="")
