"""What a person sees when the message does not reach the phone, and the one failover rule.

A delivery failure (DQE ``EXPIRED``/``UNDELIVERABLE``/``REJECTED``, Fortytwo's and TeleSign's
failure reports) before any code was delivered is not an expired code: the check answers
``not_delivered`` and a new code may be asked for, through the next fallback provider when one
is configured. Refusals of the number itself never fail over; provider faults and delivery
failures before any delivery do. (Every documented value: tests/test_conformance.py.)
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import responses
from django.test import override_settings

from phone_verify.models import Verification

from .test_dqe import msg_answer, verif_answer
from .test_fortytwo import REQUEST_OK
from .test_fortytwo import URL as FORTYTWO
from .test_fortytwo_webhook import body, post, report
from .test_telesign import API_KEY, CUSTOMER_ID, REF, answer
from .test_telesign import URL as TELESIGN

DQE = "https://dqe.example.test"
PHONE = "+33612345678"
SECRET = "s3cret-path-segment-0123456789"
OPTIONS = {
    "dqe": {"URL": DQE, "LICENCE": "LIC-123", "COMPANY": "MYCOMPANY"},
    "fortytwo": {"URL": FORTYTWO, "TOKEN": "t"},
    "telesign": {"URL": TELESIGN, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY},
}


@pytest.fixture
def chain(settings):
    """``with chain("dqe", "console"):`` runs the block with that provider and fallbacks."""

    def configure(provider: str, *fallbacks: str, **phone_verify):
        return override_settings(
            PHONE_VERIFY={
                **settings.PHONE_VERIFY,
                "PROVIDER": provider,
                "FALLBACK_PROVIDERS": list(fallbacks),
                "PROVIDER_OPTIONS": OPTIONS,
                "WEBHOOK_SECRETS": [SECRET],
                "PUBLIC_URL": "https://shop.example.com",
                "SEND_MAX_RETRIES": 0,
                "POLL_MAX": 0,
                "CODE_LIFETIME": 600,
                **phone_verify,
            }
        )

    return configure


@pytest.fixture
def mock():
    with responses.RequestsMock() as mock:
        yield mock


def start(api) -> Verification:
    created = api.start(PHONE, consents={"sms": True})
    assert created.status_code == 201, created.json()
    return Verification.objects.get(pk=created.json()["id"])


def resend(api, verification):
    """The person asks for a new code once the cooldown is over."""
    Verification.objects.filter(pk=verification.pk).update(last_sent_at="2000-01-01T00:00:00Z")
    return api.post(f"verifications/{verification.pk}/resend/")


def timeline(verification):
    return [
        (e.provider, e.status, e.provider_status, e.details.get("failover_to"))
        for e in verification.events.order_by("id")
    ]


# --- acceptance: DQE EXPIRED ----------------------------------------------------------------


def test_a_dqe_message_that_expired_can_be_resent_and_verified(api, chain, mock):
    with chain("dqe"):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status="EXPIRED", smsToken="T1"))
        verification = start(api)

        checked = api.check(verification.pk, "123456")
        assert checked.status_code == 400
        assert checked.json()["code"] == "not_delivered"
        assert checked.json()["detail"] == "The code could not be delivered; ask for a new one."
        assert "resend_available_at" in checked.json()
        verification.refresh_from_db()
        assert (verification.status, verification.reason) == ("expired", "message_expired")
        assert verification.attempts == 0  # nothing was checked: no attempt spent

        mock.replace(responses.POST, f"{DQE}/GDPR_MSG/", json=msg_answer(smsToken="T2"))
        resent = resend(api, verification)
        assert resent.status_code == 202, resent.json()
        assert resent.json()["status"] == "pending"  # a new send: open again

        verif = mock.post(f"{DQE}/GDPR_VERIF/", json=verif_answer("00", "OK"))
        assert api.check(verification.pk, "654321").json()["status"] == "verified"

    sends = [call for call in mock.calls if call.request.url == f"{DQE}/GDPR_MSG/"]
    assert len(sends) == 2  # the same provider: no fallback configured
    assert dict(parse_qsl(verif.calls[0].request.body))["Token"] == "T2"  # the new code's token
    verification.refresh_from_db()
    assert (verification.status, verification.reason, verification.sends) == ("verified", "", 2)


def test_with_a_fallback_the_resend_of_an_expired_dqe_message_goes_through_it(
    api, chain, mock, outbox
):
    with chain("dqe", "console"):
        send = mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status="EXPIRED"))
        verification = start(api)
        assert not outbox  # no failover at once: nothing says the person wants another code

        assert resend(api, verification).status_code == 202
        code = outbox.last_code(PHONE)
        assert api.check(verification.pk, code).json()["status"] == "verified"

    assert len(send.calls) == 1  # DQE was not asked again
    verification.refresh_from_db()
    assert (verification.provider, verification.status) == ("console", "verified")
    assert timeline(verification) == [
        ("dqe", "expired", "EXPIRED", None),
        ("dqe", "", "message_expired", "console"),  # the resend's failover, on the timeline
        ("console", "delivered", "printed", None),
    ]


# --- the one failover rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "reason"),
    [("03", "invalid_phone_number"), ("04", "invalid_country"), ("06", "invalid_country")],
)
def test_a_refused_number_never_fails_over(api, chain, mock, outbox, error, reason):
    with chain("dqe", "console"):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(error=error, status=""))
        verification = start(api)

        assert api.check(verification.pk, "123456").json()["code"] == "verification_failed"
        closed = resend(api, verification)

    assert not outbox  # the fallback would refuse it too, or bill for nothing
    assert (closed.status_code, closed.json()["code"]) == (409, "verification_closed")
    verification.refresh_from_db()
    assert (verification.provider, verification.status, verification.reason) == (
        "dqe",
        "rejected",
        reason,
    )


@pytest.mark.parametrize("status", ["REJECTED", "UNDELIVERABLE"])
def test_a_synchronous_delivery_failure_fails_over_at_the_resend(api, chain, mock, outbox, status):
    """Another route may deliver what this one could not: the verification stays open."""
    with chain("dqe", "console"):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status=status))
        verification = start(api)

        assert api.check(verification.pk, "123456").json()["code"] == "not_delivered"
        assert resend(api, verification).status_code == 202

    verification.refresh_from_db()
    assert verification.provider == "console" and len(outbox) == 1


def test_a_failure_report_fails_over_at_the_resend(api, client, chain, mock):
    """Fortytwo's report says UNDELIV; the new code goes through TeleSign, told it is a
    fallback, and checks follow it."""
    with chain("fortytwo", "telesign"):
        mock.post(f"{FORTYTWO}/1/2fa", json=REQUEST_OK, status=201)
        verification = start(api)
        hook = f"/api/phone-verify/webhooks/fortytwo/?client_ref={verification.pk}"
        post(client, body(report("UNDELIV")), path=hook, secret=SECRET)
        verification.refresh_from_db()
        assert (verification.status, verification.reason) == ("undeliverable", "undeliverable")

        telesign = mock.post(f"{TELESIGN}/v1/verify/sms", json=answer(290))
        assert resend(api, verification).status_code == 202
        mock.get(f"{TELESIGN}/v1/verify/{REF}", json=answer(200, "VALID"))
        assert api.check(verification.pk, "1234567").json()["status"] == "verified"

    assert dict(parse_qsl(telesign.calls[0].request.body))["is_primary"] == "false"
    verification.refresh_from_db()
    assert (verification.provider, verification.provider_reference) == ("telesign", REF)


def test_a_provider_fault_before_any_delivery_still_fails_over_at_once(api, chain, mock, outbox):
    with chain("dqe", "console"):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(error="02", status=""))
        verification = start(api)

    verification.refresh_from_db()
    assert verification.provider == "console" and len(outbox) == 1
    assert timeline(verification)[0] == ("dqe", "failed", "02", "console")


def test_after_the_last_fallback_resends_stay_with_it(api, chain, mock, outbox):
    # Three codes to one number from one address within the hour: past the per-client budget
    # (2, tests/test_abuse_budgets.py), which is not what this test is about.
    with chain("dqe", "console", RATE_LIMITS={"send_per_phone_client_hour": None}):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status="EXPIRED"))
        verification = start(api)
        assert resend(api, verification).status_code == 202
        assert resend(api, verification).status_code == 202  # an ordinary resend, same provider

    verification.refresh_from_db()
    assert (verification.provider, verification.sends, len(outbox)) == ("console", 3, 2)


# --- the limits still hold ------------------------------------------------------------------


def test_resends_after_delivery_failures_stop_at_max_sends(api, chain, mock):
    with chain("dqe", MAX_SENDS=2):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status="UNDELIVERABLE"))
        verification = start(api)
        assert resend(api, verification).status_code == 202
        refused = resend(api, verification)
        checked = api.check(verification.pk, "123456")

    assert (refused.status_code, refused.json()["code"]) == (429, "too_many_sends")
    assert checked.json()["code"] == "not_delivered"
    assert checked.json()["resend_available_at"] is None  # no more codes for this one


def test_the_cooldown_applies_to_a_resend_after_a_delivery_failure(api, chain, mock):
    with chain("dqe"):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status="EXPIRED"))
        verification = start(api)
        too_soon = api.post(f"verifications/{verification.pk}/resend/")

    assert (too_soon.status_code, too_soon.json()["code"]) == (429, "resend_too_soon")


# --- only a code that expired or was used up closes it ---------------------------------------


def test_a_code_that_expired_still_closes_the_verification(api, chain, mock):
    with chain("dqe"):
        mock.post(f"{DQE}/GDPR_MSG/", json=msg_answer(status="DELIVERED"))
        verification = start(api)
        mock.post(f"{DQE}/GDPR_VERIF/", json=verif_answer("03"))
        assert api.check(verification.pk, "123456").json()["code"] == "expired"
        closed = resend(api, verification)

    assert (closed.status_code, closed.json()["code"]) == (409, "verification_closed")


def test_a_failure_report_after_delivery_changes_nothing(api, client, chain, mock):
    with chain("fortytwo", "telesign"):
        mock.post(f"{FORTYTWO}/1/2fa", json=REQUEST_OK, status=201)
        verification = start(api)
        hook = f"/api/phone-verify/webhooks/fortytwo/?client_ref={verification.pk}"
        post(client, body(report("DELIVRD", timestamp=1)), path=hook, secret=SECRET)
        post(client, body(report("EXPIRED", timestamp=2)), path=hook, secret=SECRET)

    verification.refresh_from_db()
    assert (verification.status, verification.provider) == ("delivered", "fortytwo")
