"""Signals reach integrators after commit, with the documented arguments."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from phone_verify import services, signals
from phone_verify.models import Verification

PHONE = "+33612345678"


@pytest.fixture
def received():
    calls = []
    handlers = {}
    for name in (
        "phone_verified",
        "verification_failed",
        "delivery_status_changed",
        "consent_recorded",
        "consent_withdrawn",
    ):

        def handler(sender, _name=name, **kwargs):
            calls.append((_name, kwargs))

        handlers[name] = handler
        getattr(signals, name).connect(handler)
    yield calls
    for name, handler in handlers.items():
        getattr(signals, name).disconnect(handler)


def names(calls):
    return [name for name, _ in calls]


def test_a_successful_flow_sends_recorded_delivered_and_verified(api, outbox, received):
    verification_id = api.start(consents={"sms": True}).json()["id"]
    api.check(verification_id, outbox.last_code(PHONE))

    assert names(received) == [
        "consent_recorded",
        "delivery_status_changed",
        "delivery_status_changed",
        "phone_verified",
    ]
    delivered = received[1][1]
    assert (delivered["previous_status"], delivered["status"]) == ("pending", "delivered")
    assert received[3][1]["verification"].status == "verified"
    assert received[0][1]["record"].granted == ["sms"]


def test_locking_sends_verification_failed_with_the_reason(api, received):
    verification_id = api.start().json()["id"]
    for _ in range(5):
        api.check(verification_id, "000001")
    failed = [kwargs for name, kwargs in received if name == "verification_failed"]
    assert len(failed) == 1 and failed[0]["reason"] == "too_many_attempts"


def test_expiry_sends_verification_failed(api, outbox, received):
    verification_id = api.start().json()["id"]
    Verification.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    api.check(verification_id, outbox.last_code(PHONE))
    assert [k["reason"] for n, k in received if n == "verification_failed"] == ["expired"]


def test_withdrawal_sends_consent_withdrawn(db, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.withdraw_consent(PHONE, ["sms"])
    assert names(received) == ["consent_withdrawn"]


def test_nothing_is_sent_when_the_transaction_rolls_back(db, received, outbox):
    from django.db import transaction

    with pytest.raises(RuntimeError), transaction.atomic():
        services.start_verification(PHONE, consents={"sms": True})
        raise RuntimeError("the site's own signup failed after starting the verification")
    assert received == [] and len(outbox) == 0
    assert not Verification.objects.exists()


def test_a_failing_receiver_does_not_break_the_flow(api, outbox):
    def broken(sender, **kwargs):
        raise ValueError("receiver bug")

    signals.phone_verified.connect(broken)
    try:
        verification_id = api.start().json()["id"]
        answer = api.check(verification_id, outbox.last_code(PHONE))
    finally:
        signals.phone_verified.disconnect(broken)
    assert answer.status_code == 200
