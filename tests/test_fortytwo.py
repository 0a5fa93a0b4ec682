"""Fortytwo 2FA against ``responses`` mocks: the exact requests, every code of the seed table
with its HTTP status, on a request and on a validation; and the delivery webhook."""

from __future__ import annotations

import json
import logging

import pytest
import responses
from django.core.checks import run_checks
from django.test import override_settings

from phone_verify.models import DeliveryEvent, Verification
from phone_verify.providers.fortytwo import FortytwoProvider

URL = "https://rest.fortytwo.test"
PHONE = "+33612345678"
SECRET = "s3cret-path-segment-0123456789"
PUBLIC = "https://shop.example.com"
HOOK = "/api/phone-verify/webhooks/fortytwo/"

# The seed's table: code -> HTTP status it comes with.
HTTP_OF = {
    -50: 401, -51: 401, -52: 422, -53: 200, -54: 422, -55: 422, -56: 422, -57: 422, -58: 422,
    -59: 422, -60: 422, -61: 422, -62: 422, -63: 422, -64: 400, -65: 400, -66: 400, -67: 400,
    -68: 422, -69: 422,
}  # fmt: skip


def result(code: int, description: str = "text", **extra) -> dict:
    return {
        "api_job_id": "0c6ccf37-dd15-49ff-a12f-ffad8f2655a6",
        "result_info": {"status_code": code, "description": description},
        **extra,
    }


# The seed's example answers.
REQUEST_OK = result(0, "Success", result={"message_id": "14466445287300014003"})
VALID = result(0, "Valid")


@pytest.fixture
def options():
    return {"URL": URL, "TOKEN": "tok-123", "SENDER_ID": "MyShop"}


@pytest.fixture
def fortytwo(use_provider, options):
    with use_provider(
        "fortytwo",
        options,
        WEBHOOK_SECRETS=[SECRET, "older-secret-still-accepted"],
        PUBLIC_URL=PUBLIC,
        SEND_MAX_RETRIES=2,
        CODE_LIFETIME=900,
    ):
        with responses.RequestsMock() as mock:
            yield mock


def start(api):
    response = api.start(PHONE, consents={"sms": True})
    assert response.status_code == 201, response.json()
    return Verification.objects.get(pk=response.json()["id"])


# --- request code ---------------------------------------------------------------------------


def test_the_request_sent_to_fortytwo(api, fortytwo):
    fortytwo.post(f"{URL}/1/2fa", json=REQUEST_OK, status=201)

    verification = start(api)

    (call,) = fortytwo.calls
    assert call.request.method == "POST" and call.request.url == f"{URL}/1/2fa"
    assert call.request.headers["Authorization"] == "Token tok-123"
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {
        "client_ref": str(verification.pk),
        "phone_number": "33612345678",
        "code_length": 6,
        "code_type": "numeric",
        "case_sensitive": False,
        "message_template": "Your authentication code is: {#TFA_CODE}",
        # The secret as HTTP Basic credentials, never in the path a web server logs; our
        # client_ref rides along in the query.
        "callback_url": f"https://phone_verify:{SECRET}@shop.example.com{HOOK}"
        f"?client_ref={verification.pk}",
        "sender_id": "MyShop",
    }
    assert verification.status == "pending"  # until a delivery report comes
    assert verification.provider_reference == str(verification.pk)
    event = DeliveryEvent.objects.get()
    assert event.provider_reference == "14466445287300014003"  # what callbacks name
    # Fortytwo codes live 5 minutes whatever CODE_LIFETIME (900 s) says
    assert (verification.expires_at - verification.created_at).total_seconds() <= 5 * 60 + 5


def test_without_a_webhook_secret_no_callback_url_is_given(api, fortytwo, settings):
    fortytwo.post(f"{URL}/1/2fa", json=REQUEST_OK, status=201)
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "WEBHOOK_SECRETS": []}):
        start(api)
    assert "callback_url" not in json.loads(fortytwo.calls[0].request.body)


# What each request code does to the verification: (status, reason, calls made).
REQUEST_OUTCOMES = {
    0: ("pending", "", 1),
    -52: ("pending", "", 1),  # this client_ref was already used: by our lost first try
    -59: ("rejected", "invalid_phone_number", 1),
    -60: ("rejected", "invalid_phone_number", 1),
    -65: ("failed", "provider_unavailable", 3),  # retried: first try + SEND_MAX_RETRIES=2
    **{code: ("failed", "provider_auth", 1) for code in (-50, -51, -66, -67)},
    **{code: ("failed", "provider_config", 1) for code in (-57, -58, -61, -62, -63, -64, -68)},
    -69: ("failed", "provider_config", 1),
    # codes that only answer validations, should one come on a request
    -53: ("failed", "provider_config", 1),
    -54: ("failed", "provider_config", 1),
    -55: ("failed", "provider_config", 1),
    -56: ("failed", "provider_config", 1),
}


@pytest.mark.parametrize("code", [0, *HTTP_OF])
def test_every_request_code_with_its_http_status(api, fortytwo, code, caplog):
    http = 201 if code == 0 else HTTP_OF[code]
    fortytwo.post(f"{URL}/1/2fa", json=result(code), status=http)

    with caplog.at_level(logging.INFO, logger="phone_verify"):
        verification = start(api)

    status, reason, calls = REQUEST_OUTCOMES[code]
    assert len(fortytwo.calls) == calls
    assert (verification.status, verification.reason) == (status, reason)
    if code in (0, -52):
        assert verification.provider_reference == str(verification.pk)
        assert verification.sends_done == 1
    if reason == "provider_auth":
        assert any(r.levelno == logging.CRITICAL for r in caplog.records)


def test_a_resend_is_a_new_request_with_a_new_client_ref(api, fortytwo, settings):
    fortytwo.post(f"{URL}/1/2fa", json=REQUEST_OK, status=201)
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RESEND_COOLDOWN": 0}):
        verification = start(api)
        assert api.post(f"verifications/{verification.pk}/resend/").status_code == 202
    fortytwo.post(f"{URL}/1/2fa/{verification.pk}-2/123456", json=VALID)

    refs = [json.loads(call.request.body)["client_ref"] for call in fortytwo.calls]
    checked = api.check(verification.pk, "123456")

    assert refs == [str(verification.pk), f"{verification.pk}-2"]
    assert checked.json()["status"] == "verified"
    assert Verification.objects.count() == 1


# --- validate code --------------------------------------------------------------------------


@pytest.fixture
def sent(api, fortytwo):
    fortytwo.post(f"{URL}/1/2fa", json=REQUEST_OK, status=201)
    verification = start(api)
    fortytwo.calls.reset()
    return verification


def test_the_validation_request(api, fortytwo, sent):
    fortytwo.post(f"{URL}/1/2fa/{sent.pk}/123456", json=VALID, status=200)

    response = api.check(sent.pk, "123456")

    assert response.status_code == 200 and response.json()["status"] == "verified"
    (call,) = fortytwo.calls
    assert call.request.method == "POST"
    assert call.request.headers["Authorization"] == "Token tok-123"
    assert call.request.body is None


def test_path_segments_are_escaped():
    provider = FortytwoProvider({"URL": URL, "TOKEN": "t"})
    request = provider.build_check_request("a/b?c", "+33612345678", "x y#")
    assert request.url == f"{URL}/1/2fa/a%2Fb%3Fc/x%20y%23"


# What each validation answer does: (API status, API code, verification status, attempts).
VALIDATION_OUTCOMES = {
    0: (200, None, "verified", 1),
    -53: (400, "expired", "expired", 1),  # "Invalid" with HTTP 200: the code expired
    -54: (400, "invalid_code", "pending", 1),  # Declined: a wrong code, counted
    -56: (400, "invalid_code", "pending", 1),
    -55: (400, "invalid_code", "pending", 1),  # its wording covers a wrong code: counted
    -65: (503, "provider_unavailable", "pending", 0),  # retryable: nothing counted
    -59: (400, "verification_failed", "rejected", 0),
    -60: (400, "verification_failed", "rejected", 0),
    **{c: (400, "verification_failed", "failed", 0) for c in (-50, -51, -66, -67)},
    **{c: (400, "verification_failed", "failed", 0) for c in (-52, -57, -58, -61, -62, -63)},
    **{c: (400, "verification_failed", "failed", 0) for c in (-64, -68, -69)},
}


@pytest.mark.parametrize("code", [0, *HTTP_OF])
def test_every_validation_code_with_its_http_status(api, fortytwo, sent, code):
    http = 200 if code == 0 else HTTP_OF[code]
    fortytwo.post(f"{URL}/1/2fa/{sent.pk}/123456", json=result(code), status=http)

    response = api.check(sent.pk, "123456")

    api_status, api_code, status, attempts = VALIDATION_OUTCOMES[code]
    assert response.status_code == api_status, response.json()
    assert response.json().get("code") == api_code
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == (status, attempts)


@pytest.mark.parametrize("http", [429, 500, 502, 503])
def test_throttling_and_server_errors_answer_503_and_cost_nothing(api, fortytwo, sent, http):
    fortytwo.post(f"{URL}/1/2fa/{sent.pk}/123456", json={}, status=http)

    response = api.check(sent.pk, "123456")

    assert response.status_code == 503
    sent.refresh_from_db()
    assert sent.attempts == 0


def test_a_wrong_url_is_not_retried(api, fortytwo):
    fortytwo.post(f"{URL}/1/2fa", body="<h1>Not Found</h1>", status=404)

    verification = start(api)

    assert len(fortytwo.calls) == 1
    assert (verification.status, verification.reason) == ("failed", "provider_error")


def test_alphanumeric_codes_are_well_formed_and_others_are_refused_locally(
    api, fortytwo, options, sent
):
    options["CODE_TYPE"] = "alphanumeric"
    fortytwo.post(f"{URL}/1/2fa/{sent.pk}/Ab12Cd", json=result(-54), status=422)

    assert api.check(sent.pk, "Ab12Cd").json()["code"] == "invalid_code"
    assert api.check(sent.pk, "Ab-2Cd").json()["code"] == "invalid_code_format"
    assert len(fortytwo.calls) == 1


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "phone_verify", "error_id", "words"),
    [
        ({"TOKEN": ""}, {}, "phone_verify.E101", "['TOKEN'] must be set"),
        ({"SENDER_ID": "TwelveLetters"}, {}, "phone_verify.E201", "at most 11"),
        ({"SENDER_ID": "1234567890123456"}, {}, "phone_verify.E201", "15 digits"),
        ({}, {"CODE_LENGTH": 4}, "phone_verify.E202", "from 6 to 20"),
        ({"MESSAGE_TEMPLATE": "Your code"}, {}, "phone_verify.E203", "{#TFA_CODE}"),
        ({"MESSAGE_TEMPLATE": "x" * 155 + "{#TFA_CODE}"}, {}, "phone_verify.E203", "161 of 160"),
        (
            {"MESSAGE_TEMPLATE": "€" * 78 + "{#TFA_CODE}"},
            {},
            "phone_verify.E203",
            "162 of 160 GSM-7",
        ),
        (
            {"MESSAGE_TEMPLATE": "Код " * 17 + "{#TFA_CODE}"},
            {},
            "phone_verify.E203",
            "74 of 70 UCS-2",
        ),
        ({"CODE_TYPE": "emoji"}, {}, "phone_verify.E204", "numeric, alpha, alphanumeric"),
        ({"CALLBACK_IPS": ["80.252.167.999"]}, {}, "phone_verify.E205", "CALLBACK_IPS"),
        ({}, {"WEBHOOK_SECRETS": []}, "phone_verify.W201", "no delivery report"),
    ],
)
def test_system_checks(use_provider, options, phone_verify, error_id, words):
    base = {"URL": URL, "TOKEN": "t"}
    with use_provider(
        "fortytwo", {**base, **options}, **{"WEBHOOK_SECRETS": ["s"], **phone_verify}
    ):
        messages = [m for m in run_checks() if m.id.startswith("phone_verify")]
    assert [m.id for m in messages] == [error_id], [m.msg for m in messages]
    assert words in messages[0].msg


def test_a_template_that_just_fits_passes(use_provider):
    template = "x" * 154 + "{#TFA_CODE}"  # 154 + 6 = 160
    with use_provider(
        "fortytwo", {"URL": URL, "TOKEN": "t", "MESSAGE_TEMPLATE": template}, WEBHOOK_SECRETS=["s"]
    ):
        assert [m for m in run_checks() if m.id.startswith("phone_verify")] == []
