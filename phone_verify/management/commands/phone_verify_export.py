"""``manage.py phone_verify_export --phone NUMBER``: everything held about a number, as JSON
(for a subject access request)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder

from phone_verify.exceptions import PhoneVerifyError
from phone_verify.phones import normalize_phone
from phone_verify.retention import subject_data


class Command(BaseCommand):
    help = "Print as JSON every verification, delivery event, consent record, prefill of a number."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--phone",
            required=True,
            help="The number in any common format (national form: the first allowed country).",
        )

    def handle(self, *args: Any, phone: str, **options: Any) -> None:
        try:
            e164 = normalize_phone(phone)
        except PhoneVerifyError as error:
            raise CommandError(f"{phone!r}: {error.detail}") from None
        self.stdout.write(json.dumps(subject_data(e164), cls=DjangoJSONEncoder, indent=2))
