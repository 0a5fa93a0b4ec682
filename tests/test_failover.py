"""Provider failover (``FALLBACK_PROVIDERS``) in-process, against ``responses`` mocks: when the
provider sending a verification's first code fails for good, the next one sends it; checks go
to the provider that sent the latest code; the timeline shows the hand-over. (The same with a
real worker and real HTTP: tests/test_reliability.py.)"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import responses
from django.test import override_settings

from phone_verify.models import Verification

from .test_fortytwo import REQUEST_OK, result
from .test_fortytwo import URL as FORTYTWO
from .test_telesign import API_KEY, CUSTOMER_ID, REF, answer
from .test_telesign import URL as TELESIGN

PHONE = "+33612345678"


@pytest.fixture
def chain(settings):
    """Fortytwo first, TeleSign as fallback; retries fast (eager tasks retry in-process)."""
    with (
        override_settings(
            PHONE_VERIFY={
                **settings.PHONE_VERIFY,
                "PROVIDER": "fortytwo",
                "FALLBACK_PROVIDERS": ["telesign"],
                "PROVIDER_OPTIONS": {
                    "fortytwo": {"URL": FORTYTWO, "TOKEN": "t"},
                    "telesign": {"URL": TELESIGN, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY},
                },
                "SEND_MAX_RETRIES": 2,
                "RETRY_BACKOFF_MAX": 0,
                "POLL_MAX": 0,
            }
        ),
        responses.RequestsMock() as mock,
    ):
        yield mock


def start(api) -> Verification:
    created = api.start(PHONE, consents={"sms": True})
    assert created.status_code == 201, created.json()
    return Verification.objects.get(pk=created.json()["id"])


def timeline(verification: Verification) -> list[tuple[str, str, str, str | None]]:
    return [
        (e.provider, e.status, e.provider_status, e.details.get("failover_to"))
        for e in verification.events.order_by("id")
    ]


def test_a_refusal_hands_the_send_to_the_fallback(api, chain):
    chain.post(f"{FORTYTWO}/1/2fa", json=result(-50, "bad token"), status=401)
    send = chain.post(f"{TELESIGN}/v1/verify/sms", json=answer())

    verification = start(api)

    assert dict(parse_qsl(send.calls[0].request.body))["is_primary"] == "false"
    assert (verification.provider, verification.provider_reference) == ("telesign", REF)
    assert verification.status == "pending" and verification.sends_done == 1
    assert timeline(verification) == [
        ("fortytwo", "failed", "-50", "telesign"),
        ("telesign", "pending", "290", None),
    ]

    check = chain.get(f"{TELESIGN}/v1/verify/{REF}", json=answer(200, "VALID"))
    assert api.check(verification.pk, "123456").json()["status"] == "verified"
    assert "verify_code=123456" in check.calls[0].request.url  # the check went to TeleSign


def test_retries_exhausted_hand_the_send_to_the_fallback(api, chain):
    fortytwo = chain.post(f"{FORTYTWO}/1/2fa", status=500)
    chain.post(f"{TELESIGN}/v1/verify/sms", json=answer())

    verification = start(api)

    assert len(fortytwo.calls) == 3  # the first try and SEND_MAX_RETRIES
    assert verification.provider == "telesign" and verification.sends_done == 1
    assert timeline(verification)[0] == ("fortytwo", "failed", "http_500", "telesign")


def test_when_every_provider_fails_the_verification_fails_with_the_last_reason(api, chain):
    chain.post(f"{FORTYTWO}/1/2fa", json=result(-50, "bad token"), status=401)
    chain.post(f"{TELESIGN}/v1/verify/sms", status=503)

    verification = start(api)

    assert (verification.status, verification.reason) == ("failed", "provider_unavailable")
    assert [event[3] for event in timeline(verification)] == ["telesign", None]
    assert api.get(f"verifications/{verification.pk}/").json()["status"] == "failed"


def test_no_failover_once_a_code_is_out(api, chain, settings):
    chain.post(f"{FORTYTWO}/1/2fa", json=REQUEST_OK, status=201)
    verification = start(api)
    Verification.objects.update(last_sent_at="2000-01-01T00:00:00Z")
    chain.replace(responses.POST, f"{FORTYTWO}/1/2fa", status=500)

    resent = api.post(f"verifications/{verification.pk}/resend/")

    assert resent.status_code == 202, resent.json()
    verification.refresh_from_db()
    # The first code still works: keep it, with its provider; no TeleSign call was made.
    assert (verification.provider, verification.status) == ("fortytwo", "pending")
    assert [event[3] for event in timeline(verification)] == [None, None]


def test_the_primary_is_not_told_it_is_a_fallback(api, settings):
    options = {"URL": TELESIGN, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY}
    phone_verify = {"PROVIDER": "telesign", "PROVIDER_OPTIONS": {"telesign": options}}
    with (
        override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, **phone_verify, "POLL_MAX": 0}),
        responses.RequestsMock() as mock,
    ):
        send = mock.post(f"{TELESIGN}/v1/verify/sms", json=answer())
        start(api)

    assert "is_primary" not in dict(parse_qsl(send.calls[0].request.body))
