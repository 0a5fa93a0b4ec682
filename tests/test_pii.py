"""Personal data in logs: the app's logger masks phone numbers whatever carries them, and the
whole-run audit (tests/log_audit.py) would catch a number or a code that got through."""

from __future__ import annotations

import logging

import pytest

from phone_verify.logs import mask_phone_numbers

from . import log_audit

logger = logging.getLogger("phone_verify")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sent to +33612345678", "sent to +33 6 ** ** *6 78"),
        ("sent to +33 6 12 34 56 78.", "sent to +33 6 ** ** *6 78."),
        ("DQE said Phone=33612345678", "DQE said Phone=+33 6 ** ** *6 78"),
        ("+447911123456 failed", "+44 7*** ***456 failed"),
    ],
)
def test_phone_numbers_are_masked(text, expected):
    assert mask_phone_numbers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "verification 1d811202-0ede-4bac-91bc-3d5ce35539eb started",
        "/verifications/68272275-95cc-4d4c-8252-5772674e25e8/check/",  # +682 72275 is valid
        "12345678 rows, 68272275 bytes",
        "reference 2557312299CC1304904080F4BE17BFB4",
        "message 14466445287300014003 at 2026-11-22 10:00:00",
        "code 3 of 5, 0.0420 EUR",
    ],
)
def test_ids_dates_and_amounts_are_left_alone(text):
    assert mask_phone_numbers(text) == text


def test_the_app_logger_masks_arguments_and_exceptions(caplog):
    try:
        raise ValueError("provider refused +33612345678")
    except ValueError:
        logger.exception("send to %s failed", "+33698765432")

    (record,) = caplog.records
    text = caplog.text
    assert "+33 6 ** ** *4 32" in record.getMessage()
    assert "+33612345678" not in text and "+33698765432" not in text
    assert "+33 6 ** ** *6 78" in text  # in the traceback


def test_the_audit_finds_a_leak(caplog):
    before = list(log_audit._records)
    try:
        logging.getLogger("someone.else").warning("texted +33612345678")  # not our logger
        log_audit.issued("482915")
        logging.getLogger("someone.else").warning("the code was 482915")
        found = log_audit.offending_lines()
        assert any("+33612345678" in line for line in found)
        assert any("482915" in line for line in found)
    finally:
        log_audit._records[:] = before
        log_audit.ISSUED_CODES.discard("482915")
