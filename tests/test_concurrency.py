"""Races on PostgreSQL, with real threads and real transactions (row locks are what is tested)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from phone_verify import services
from phone_verify.models import Verification
from phone_verify.providers.console import outbox as console_outbox
from phone_verify.status import CheckOutcome

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PHONE = "+33612345678"


def in_threads(count, function):
    barrier = threading.Barrier(count)

    def run(_):
        barrier.wait()
        try:
            return function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_twenty_simultaneous_right_codes_verify_exactly_once():
    verification = services.start_verification(PHONE)
    code = console_outbox.last_code(PHONE)

    outcomes = in_threads(20, lambda: services.check_code(verification.pk, code).outcome)

    assert outcomes.count(CheckOutcome.VERIFIED) == 1
    assert outcomes.count(CheckOutcome.ALREADY_VERIFIED) == 19
    assert Verification.objects.get().attempts == 1


def test_fifty_simultaneous_wrong_codes_stop_exactly_at_the_limit():
    verification = services.start_verification(PHONE)
    wrong = "000000" if console_outbox.last_code(PHONE) != "000000" else "111111"

    outcomes = in_threads(50, lambda: services.check_code(verification.pk, wrong).outcome)

    assert outcomes.count(CheckOutcome.INVALID) == 4
    assert outcomes.count(CheckOutcome.LOCKED) == 46
    assert Verification.objects.get().attempts == 5  # never beyond: no guess past the limit


def test_simultaneous_resends_send_one_code(settings):
    verification = services.start_verification(PHONE)
    Verification.objects.update(last_sent_at="2000-01-01T00:00:00Z")
    console_outbox.clear()

    def try_resend():
        try:
            services.resend(verification.pk)
            return "sent"
        except Exception as error:  # ResendTooSoon for all but one
            return getattr(error, "code", repr(error))

    results = in_threads(10, try_resend)

    assert results.count("sent") == 1
    assert results.count("resend_too_soon") == 9
    assert len(console_outbox) == 1
    assert Verification.objects.get().sends == 2


def test_simultaneous_polls_of_one_verification_call_the_provider_once(use_provider):
    """Ten workers poll the same verification at once; the provider answers slowly."""
    import time

    from .fake_server import running
    from .fake_telesign import API_KEY, CUSTOMER_ID, FakeTeleSign

    class SlowFake(FakeTeleSign):
        def delay(self) -> float:
            return 0.5

    fake = SlowFake()
    with running(fake) as url:
        options = {"URL": url, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY}
        with use_provider("telesign", options, POLL_MAX=5):
            verification = services.start_verification(PHONE)  # sends, then polls once
            time.sleep(0.1)
            fake.requests.clear()

            again = in_threads(10, lambda: services.poll_delivery(verification.pk))

    polls = [r for r in fake.requests if r.method == "GET"]
    assert len(polls) == 1
    assert again.count(True) == 1 and again.count(False) == 9
    verification.refresh_from_db()
    assert verification.poll_lease_until is None and verification.polls == 2
    assert verification.status == "pending"  # the fake says 290: still in progress
