"""The input rule (``phone_verify.inputs``) at every edge: what an attacker sent that once
answered 500 now answers 400, 404, 413 or 415 in our error shape; content types; 500s logged."""

# The fixtures imported from other test modules are used as test arguments.
# ruff: noqa: F401, F811
from __future__ import annotations

import io
import json
import logging

import pytest
from django.test import Client
from django.utils import timezone

from phone_verify import services
from phone_verify.models import ConsentRecord, IdentityPrefill, Verification
from phone_verify.phones import mask_phone

from .conftest import API
from .test_prefill import come_back, dqe, options, started

PHONE = "+33612345678"
DEEP = b"[" * 2_000 + b"]" * 2_000  # about the size that once raised RecursionError


def post_raw(api, path: str, body: bytes, content_type: str = "application/json"):
    """``body`` posted as is, with exactly this Content-Type header ("": an empty one)."""
    with api._capture(execute=True):
        return api.client.generic("POST", API + path, body, content_type=content_type)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["code"], str) and isinstance(body["detail"], str), body
    if code is not None:
        assert body["code"] == code, body
    return body


# --- bodies ---------------------------------------------------------------------------------


@pytest.fixture
def verification(api):
    return api.start(PHONE).json()["id"]


@pytest.mark.parametrize("path", ["verifications/", "verifications/{id}/check/", "prefills/"])
def test_deep_nesting_is_refused_before_parsing(api, verification, path):
    response = post_raw(api, path.format(id=verification), DEEP)

    assert_error(response, 400, "malformed_request")


def test_nesting_inside_strings_does_not_count(api):
    response = api.start(PHONE, country="[" * 5_000)

    assert_error(response, 400, "invalid_request")  # too long a country, not too deep


def test_unknown_fields_are_refused(api):
    assert_error(api.start(PHONE, note="hello"), 400, "invalid_request")
    assert_error(api.post("verifications/x/resend/", {"force": True}), 400, "invalid_request")


def test_a_lone_surrogate_in_a_consent_key_is_refused_and_the_answer_encodes(api):
    body = b'{"phone_number": "+33612345678", "consents": {"\\ud800sms": true}}'

    answer = assert_error(post_raw(api, "verifications/", body), 400, "malformed_request")

    assert "\ud800" not in json.dumps(answer, ensure_ascii=False)
    assert not Verification.objects.exists() and not ConsentRecord.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b'{"phone_number": "+33612345678\\u0000"}',  # NUL, escaped
        b'{"phone_number": "+33612345678", "consents": {"sms\\u0000": true}}',
        b'{"phone_number": "+3361234\xff5678"}',  # not UTF-8
        b'{"phone_number": "+33612345678"',  # not JSON
    ],
)
def test_nul_bytes_and_broken_text_are_refused(api, body):
    assert_error(post_raw(api, "verifications/", body), 400, "malformed_request")


def test_a_body_over_the_limit_answers_413_before_it_is_read(api, settings):
    huge = json.dumps({"phone_number": PHONE, "pad": "x" * 20_000}).encode()

    assert_error(post_raw(api, "verifications/", huge), 413, "too_large")
    assert not Verification.objects.exists()


def test_a_nul_byte_in_the_prefill_return_token_answers_400(api, dqe, started):
    response = come_back(api, started, token="sess\x00-1")

    assert_error(response, 400, "malformed_request")
    started.refresh_from_db()
    assert started.status == IdentityPrefill.Status.PENDING and not started.dqe_token


# --- content types --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
@pytest.mark.parametrize("path", ["verifications/", "verifications/{id}/check/", "prefills/"])
def test_every_post_endpoint_answers_anything_but_json_with_415(
    api, verification, path, content_type
):
    body = b'{"phone_number": "+33612345678", "code": "123456"}'
    response = post_raw(api, path.format(id=verification), body, content_type)

    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_resend_refuses_what_a_cross_site_form_can_post(api, verification, content_type):
    Verification.objects.update(last_sent_at=timezone.now() - timezone.timedelta(hours=1))

    response = post_raw(api, f"verifications/{verification}/resend/", b"", content_type)

    assert_error(response, 415, "unsupported_media_type")
    assert Verification.objects.get().sends == 1
    # The same request as JSON is taken.
    json_answer = post_raw(api, f"verifications/{verification}/resend/", b"{}")
    assert json_answer.status_code == 202, json_answer.json()


def test_the_signup_page_still_takes_its_form(web):
    response = web.post("/signup/", {"username": "ada"})

    assert response.status_code == 200  # the form again, with its errors
    assert b"This field is required" in response.content


# --- admin query parameters ----------------------------------------------------------------


def test_an_unknown_channel_filter_is_ignored(api, staff_client):
    api.start(PHONE, consents={"sms": True})

    for url in (
        "/admin/phone_verify/consentrecord/?channel=fax",
        "/admin/phone_verify/consentrecord/export/?channel=fax",
    ):
        response = staff_client.get(url)
        assert response.status_code == 200, url
    listed = staff_client.get("/admin/phone_verify/consentrecord/?channel=fax")
    assert mask_phone(PHONE) in listed.content.decode()  # the filter ignored: all records


def test_a_page_past_the_end_answers_404(staff_client, db):
    now = timezone.now()
    Verification.objects.bulk_create(
        Verification(
            phone_number=f"+336123456{i:02d}",
            country="FRA",
            provider="console",
            created_at=now,
            last_sent_at=now,
            expires_at=now,
        )
        for i in range(101)  # two pages
    )
    url = "/admin/phone_verify/verification/"

    assert staff_client.get(url + "?p=2").status_code == 200
    assert staff_client.get(url + "?p=3").status_code == 404
    assert staff_client.get(url + "?p=999999").status_code == 404


# --- server errors are logged ---------------------------------------------------------------


def test_a_server_error_is_logged_with_its_traceback_and_the_number_masked(
    api, monkeypatch, settings
):
    """With DEBUG off (the test settings), through the example project's LOGGING."""
    assert settings.DEBUG is False

    def broken(*args, **kwargs):
        raise RuntimeError(f"the database said no for {PHONE}")

    monkeypatch.setattr(services, "start_verification", broken)
    handler = next(
        h for h in logging.getLogger("django.request").handlers if isinstance(h, logging.Handler)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        client = Client(raise_request_exception=False)
        response = client.post(
            "/api/phone-verify/verifications/",
            {"phone_number": PHONE},
            content_type="application/json",
        )
    finally:
        handler.setStream(previous)

    assert response.status_code == 500
    log = stream.getvalue()
    assert "Internal Server Error: /api/phone-verify/verifications/" in log
    assert "Traceback (most recent call last)" in log and "in broken" in log
    assert f"RuntimeError: the database said no for {mask_phone(PHONE)}" in log
    assert PHONE not in log and "612345678" not in log
