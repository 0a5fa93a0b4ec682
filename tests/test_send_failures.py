"""What happens when a provider fails: retries on retryable faults, then a definite ending."""

from __future__ import annotations

import pytest
from django.test import override_settings

from phone_verify.exceptions import ProviderError
from phone_verify.models import ConsentRecord, DeliveryEvent, Verification
from phone_verify.providers import registry
from phone_verify.providers.base import Provider
from phone_verify.status import SendResult, Status

PHONE = "+33612345678"


class ScriptedProvider(Provider):
    """Answers each send with the next item of ``script``: a SendResult or an error to raise."""

    name = "scripted"
    script: list = []
    calls: list = []

    def send(self, message):
        ScriptedProvider.calls.append(message)
        step = ScriptedProvider.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def unavailable():
    return ProviderError("timeout", provider="scripted", retryable=True, provider_code="timeout")


@pytest.fixture
def scripted(settings, monkeypatch):
    monkeypatch.setitem(registry.PROVIDER_CLASSES, "scripted", f"{__name__}.ScriptedProvider")
    ScriptedProvider.script, ScriptedProvider.calls = [], []
    with override_settings(
        PHONE_VERIFY={**settings.PHONE_VERIFY, "PROVIDER": "scripted", "SEND_MAX_RETRIES": 3}
    ):
        yield ScriptedProvider


def test_retryable_faults_are_retried_then_the_send_succeeds(api, scripted):
    scripted.script = [unavailable(), unavailable(), SendResult(Status.SENT, "ref-1", "ok")]

    response = api.start(consents={"sms": True})

    assert response.status_code == 201
    assert len(scripted.calls) == 3
    verification = Verification.objects.get()
    assert verification.status == "sent" and verification.provider_reference == "ref-1"
    assert verification.sends_done == 1
    assert verification.code_hash  # we generated the code: kept as a hash


def test_retries_exhausted_end_in_failed_provider_unavailable_and_nothing_is_lost(api, scripted):
    scripted.script = [unavailable() for _ in range(4)]

    response = api.start(consents={"sms": True})

    assert response.status_code == 201
    assert len(scripted.calls) == 4  # the first try and SEND_MAX_RETRIES=3 retries
    verification = Verification.objects.get()
    assert (verification.status, verification.reason) == ("failed", "provider_unavailable")
    assert verification.code_hash == ""
    assert ConsentRecord.objects.filter(verification=verification).count() == 1
    event = DeliveryEvent.objects.get()
    assert (event.kind, event.status, event.applied) == ("send", "failed", True)
    status = api.get(f"verifications/{verification.pk}/").json()["status"]
    assert status == "failed"


def test_a_refusal_is_not_retried_and_ends_in_its_status(api, scripted):
    scripted.script = [
        ProviderError(
            "invalid phone",
            provider="scripted",
            code="invalid_phone_number",
            provider_code="03",
            status="rejected",
            response={"errors": {"03": "03 - Invalid"}},
        )
    ]

    api.start()

    assert len(scripted.calls) == 1
    verification = Verification.objects.get()
    assert (verification.status, verification.reason) == ("rejected", "invalid_phone_number")
    event = DeliveryEvent.objects.get()
    assert event.provider_status == "03" and event.raw == {"errors": {"03": "03 - Invalid"}}


def test_a_check_after_a_failed_send_answers_verification_failed(api, scripted):
    scripted.script = [ProviderError("no", provider="scripted", status="rejected")]
    verification_id = api.start().json()["id"]

    answer = api.check(verification_id, "123456")

    assert answer.status_code == 400 and answer.json()["code"] == "verification_failed"
    assert Verification.objects.get().attempts == 0


def test_a_failed_resend_does_not_end_a_verification_whose_first_code_is_out(api, scripted):
    scripted.script = [
        SendResult(Status.DELIVERED, "ref-1"),
        ProviderError("no", provider="scripted"),
    ]
    verification_id = api.start().json()["id"]
    Verification.objects.update(last_sent_at="2000-01-01T00:00:00Z")

    assert api.post(f"verifications/{verification_id}/resend/").status_code == 202

    verification = Verification.objects.get()
    assert verification.status == "delivered"
    assert verification.code_hash  # the first code still works
    failure = DeliveryEvent.objects.filter(applied=False).get()
    assert failure.status == "failed"


def test_a_send_task_run_twice_sends_once(api, scripted):
    from phone_verify.services import deliver_code

    scripted.script = [SendResult(Status.SENT, "ref-1")]
    verification_id = api.start().json()["id"]

    deliver_code(verification_id, 1)  # a redelivered task message

    assert len(scripted.calls) == 1
    assert DeliveryEvent.objects.count() == 1
