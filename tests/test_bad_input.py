"""Bad input gets a 4xx with ``{"code", "detail"}``, never a 500."""

from __future__ import annotations

import uuid

import pytest

from phone_verify.models import ConsentRecord, Verification

START = "verifications/"

BAD_STARTS = [
    # (name, body, expected status, expected code)
    ("letters as phone", {"phone_number": "call me maybe"}, 400, "invalid_phone_number"),
    ("short number", {"phone_number": "+336"}, 400, "invalid_phone_number"),
    ("landline", {"phone_number": "+33123456789"}, 400, "not_a_mobile_number"),
    ("premium rate", {"phone_number": "+33899123456"}, 400, "not_a_mobile_number"),
    ("10 kB phone", {"phone_number": "6" * 10_240}, 400, "invalid_request"),
    ("phone not a string", {"phone_number": ["+33612345678"]}, 400, "invalid_request"),
    ("missing phone", {"consents": {"sms": True}}, 400, "invalid_request"),
    ("unknown country", {"phone_number": "0612345678", "country": "XXX"}, 400, "invalid_country"),
    (
        "country mismatch",
        {"phone_number": "+33612345678", "country": "DEU"},
        400,
        "country_mismatch",
    ),
    ("national number, no country", {"phone_number": "0612345678"}, 400, "invalid_phone_number"),
    (
        "unknown consent key",
        {"phone_number": "+33612345678", "consents": {"fax": True}},
        400,
        "unknown_consent_key",
    ),
    (
        "consent key for contact 6",
        {"phone_number": "+33612345678", "consents": {"sms6": True}},
        400,
        "unknown_consent_key",
    ),
    (
        "string consent value",
        {"phone_number": "+33612345678", "consents": {"sms": "true"}},
        400,
        "invalid_consent_value",
    ),
    (
        "numeric consent value",
        {"phone_number": "+33612345678", "consents": {"sms": 1}},
        400,
        "invalid_consent_value",
    ),
    (
        "null consent value",
        {"phone_number": "+33612345678", "consents": {"sms": None}},
        400,
        "invalid_consent_value",
    ),
    (
        "consents not an object",
        {"phone_number": "+33612345678", "consents": ["sms"]},
        400,
        "invalid_request",
    ),
    ("empty body", None, 400, "invalid_request"),
]


@pytest.mark.parametrize(
    "body, status, code", [case[1:] for case in BAD_STARTS], ids=[case[0] for case in BAD_STARTS]
)
def test_bad_start_requests_are_refused_cleanly(api, body, status, code):
    response = api.post(START, body)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not Verification.objects.exists() and not ConsentRecord.objects.exists()


@pytest.mark.parametrize(
    "payload, content_type, status, code",
    [
        (
            "phone_number=%2B33612345678",
            "application/x-www-form-urlencoded",
            415,
            "unsupported_media_type",
        ),
        ("+33612345678", "text/plain", 415, "unsupported_media_type"),
        ('{"phone_number": ', "application/json", 400, "malformed_request"),
        ("[1, 2, 3]", "application/json", 400, "invalid_request"),
    ],
    ids=["form encoded", "text", "truncated json", "json list"],
)
def test_wrong_content_type_or_unparsable_body(api, payload, content_type, status, code):
    response = api.post(START, payload, content_type=content_type, format=None)

    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "verifications/{unknown}/",
        "verifications/not-a-uuid/",
        "verifications/{unknown}/check/",
        "verifications/12345/check/",
        "verifications/{unknown}/resend/",
        "verifications/%27%20OR%201=1/resend/",
    ],
)
def test_unknown_or_malformed_ids_answer_404_not_found(api, path):
    path = path.format(unknown=uuid.uuid4())
    body = {} if path.endswith("resend/") else {"code": "123456"}
    response = api.get(path) if path.count("/") == 2 else api.post(path, body)

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such verification."}


@pytest.mark.parametrize(
    "code, expected",
    [
        ("12a456", "invalid_code_format"),
        ("abcdef", "invalid_code_format"),
        ("12345", "invalid_code_format"),
        ("1234567", "invalid_code_format"),
        ("9" * 50, "invalid_request"),
        ("", "invalid_request"),
        (None, "invalid_request"),
        (123456, "invalid_request"),  # a JSON number, not a string: leading zeros would be lost
    ],
)
def test_malformed_codes_are_refused_and_cost_no_attempt(api, code, expected):
    verification_id = api.start().json()["id"]

    response = api.post(f"verifications/{verification_id}/check/", {"code": code})

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == expected
    assert Verification.objects.get().attempts == 0


def test_unsupported_method_answers_405_in_our_shape(api):
    response = api.get("verifications/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_a_database_failure_answers_503_and_stores_nothing(api):
    from django.db import connection

    from phone_verify.models import ConsentRecord, Verification

    from .test_fortytwo_webhook import FailingDatabase

    with connection.execute_wrapper(FailingDatabase(2)):  # after the verification's INSERT
        answer = api.start(consents={"sms": True})

    assert answer.status_code == 503
    assert answer.json()["code"] == "temporarily_unavailable" and answer.json()["detail"]
    assert not Verification.objects.exists() and not ConsentRecord.objects.exists()
