"""Delivery reports move a verification forward only; every report is kept."""

from __future__ import annotations

import pytest

from phone_verify import services
from phone_verify.models import DeliveryEvent, Verification
from phone_verify.status import Status, StatusReport

PHONE = "+33612345678"


@pytest.fixture
def sent(api):
    api.start()
    verification = Verification.objects.get()
    Verification.objects.update(status=Status.SENT)
    return verification


def report(reference, status, provider_status=""):
    return StatusReport(
        provider_reference=reference,
        status=status,
        provider_status=provider_status,
        raw={"status": provider_status},
    )


def apply(verification, status, provider_status="X"):
    return services.apply_report(
        report(verification.provider_reference, status, provider_status),
        provider="console",
        kind=DeliveryEvent.Kind.CALLBACK,
    )


def test_a_report_moves_the_status_forward_and_is_kept(sent):
    apply(sent, Status.DELIVERED, "DELIVRD")
    sent.refresh_from_db()
    assert sent.status == "delivered"
    event = DeliveryEvent.objects.filter(kind="callback").get()
    assert (event.provider_status, event.status, event.applied) == ("DELIVRD", "delivered", True)
    assert event.raw == {"status": "DELIVRD"}


def test_a_late_sent_after_delivered_changes_nothing(sent):
    apply(sent, Status.DELIVERED)
    apply(sent, Status.SENT, "ENROUTE")
    apply(sent, Status.DELIVERED, "DELIVRD")  # duplicate
    sent.refresh_from_db()
    assert sent.status == "delivered"
    applied = list(DeliveryEvent.objects.filter(kind="callback").values_list("applied", flat=True))
    assert applied == [True, False, False]


def test_nothing_leaves_verified(sent, api, outbox):
    api.check(sent.pk, outbox.last_code(PHONE))
    apply(sent, Status.UNDELIVERABLE, "UNDELIV")
    sent.refresh_from_db()
    assert sent.status == "verified" and sent.reason == ""


def test_an_unmapped_value_is_kept_raw_and_changes_nothing(sent):
    apply(sent, None, "SOMETHING_NEW")
    sent.refresh_from_db()
    assert sent.status == "sent"
    assert DeliveryEvent.objects.filter(provider_status="SOMETHING_NEW", applied=False).exists()


def test_a_report_for_an_unknown_reference_is_dropped(db, caplog):
    result = services.apply_report(
        report("nope", Status.DELIVERED), provider="console", kind="callback"
    )
    assert result is None
    assert not DeliveryEvent.objects.exists()
    assert "unknown reference" in caplog.text


def test_a_final_failure_report_ends_the_verification_with_a_reason(sent):
    apply(sent, Status.UNDELIVERABLE, "UNDELIV")
    sent.refresh_from_db()
    assert (sent.status, sent.reason, sent.code_hash) == ("undeliverable", "undeliverable", "")
