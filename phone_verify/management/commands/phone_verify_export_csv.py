"""``manage.py phone_verify_export_csv``: consent records as CSV on standard output (or
``--output``), streamed row by row; filters as in the admin list."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from phone_verify.exceptions import InvalidPhoneNumber
from phone_verify.exports import consent_rows, csv_lines, filter_records
from phone_verify.models import ConsentRecord


class Command(BaseCommand):
    help = "Write consent records as CSV (all of them, or those the options select)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--phone", help="a phone number, in any common format")
        parser.add_argument("--channel", choices=["sms", "email", "phone", "post"])
        parser.add_argument("--contact", type=int, choices=[1, 2, 3, 4, 5])
        parser.add_argument("--provider")
        parser.add_argument("--verified", action="store_true", help="only verified ones")
        parser.add_argument("--current", action="store_true", help="only current ones")
        parser.add_argument("--since", help="YYYY-MM-DD, inclusive")
        parser.add_argument("--until", help="YYYY-MM-DD, inclusive")
        parser.add_argument("--output", help="a file; standard output when absent")

    def handle(self, *args: Any, **options: Any) -> None:
        dates = {}
        for name in ("since", "until"):
            if options[name]:
                dates[name] = parse_date(options[name])
                if dates[name] is None:
                    raise CommandError(f"--{name} must be a date such as 2026-11-22")
        try:
            records = filter_records(
                ConsentRecord.objects.all(),
                phone=options["phone"],
                channel=options["channel"],
                contact=options["contact"],
                provider=options["provider"],
                verified=options["verified"] or None,
                current=options["current"] or None,
                **dates,
            )
        except InvalidPhoneNumber as error:
            raise CommandError(f"--phone: {error.detail}") from None
        out = open(options["output"], "w", newline="") if options["output"] else sys.stdout
        try:
            for line in csv_lines(consent_rows(records)):
                out.write(line)
        finally:
            if out is not sys.stdout:
                out.close()
