"""Webhooks under attack: a provider not in use has no webhook, an empty key authenticates
nothing, a replay changes nothing, a flood of reports is cut short, and no secret is logged."""

# The fixtures imported from other test modules are used as test arguments.
# ruff: noqa: F401, F811
from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import urlsplit

import pytest
import responses
from django.test import RequestFactory

from phone_verify.models import DeliveryEvent, Verification
from phone_verify.webhooks import WebhookView

from .test_fortytwo import PUBLIC, REQUEST_OK, SECRET, URL
from .test_fortytwo_webhook import MESSAGE_ID, body, fortytwo_settings, post, report, sent
from .test_telesign import CUSTOMER_ID
from .test_telesign_webhook import SEED, signed_post
from .test_telesign_webhook import sent as telesign_sent

TELESIGN_HOOK = "/api/phone-verify/webhooks/telesign/"


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def call_unreadable(provider: str, **headers):
    request = RequestFactory().generic(
        "POST", f"/api/phone-verify/webhooks/{provider}/", b"", content_type="application/json"
    )
    request.META["wsgi.input"] = Unreadable()
    request._stream = Unreadable()
    request.META["CONTENT_LENGTH"] = "10000000"
    request.META.update(headers)
    return WebhookView.as_view()(request, provider=provider)


# --- a provider not in use ------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["telesign", "fortytwo", "dqe", "nobody"])
def test_a_provider_not_in_use_answers_404_without_reading_the_body(db, provider):
    # The test settings send through the console provider only; TeleSign has options.
    response = call_unreadable(provider, HTTP_AUTHORIZATION="TSA x:y")

    assert response.status_code == 404
    assert json.loads(response.content)["code"] == "not_found"


def test_a_fallback_provider_has_its_webhook(db, use_provider):
    with use_provider("console", {}, FALLBACK_PROVIDERS=["telesign"]):
        response = call_unreadable("telesign")
    assert response.status_code == 401  # its own answer: not signed


# --- empty keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", None])
def test_telesign_with_an_empty_key_refuses_a_callback_signed_with_it(client, use_provider, key):
    with use_provider("telesign", {"URL": URL, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": key}):
        response = signed_post(client, SEED, key="")

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"


def test_fortytwo_with_no_secret_refuses_empty_credentials(client, use_provider):
    with use_provider("fortytwo", {"URL": URL, "TOKEN": "t"}, WEBHOOK_SECRETS=[""]):
        response = post(client, body(report("DELIVRD")), secret="")
    assert response.status_code == 403


# --- replays --------------------------------------------------------------------------------


def test_a_replayed_callback_without_a_time_leaves_one_delivery_event(client, telesign_sent):
    untimed = {**SEED, "status": {"code": 200, "description": "Delivered to handset"}}

    answers = [signed_post(client, untimed).status_code for _ in range(3)]

    assert answers == [200, 200, 200]  # the provider must not retry
    assert DeliveryEvent.objects.filter(kind="callback").count() == 1
    telesign_sent.refresh_from_db()
    assert telesign_sent.status == "delivered"


def test_a_replayed_fortytwo_report_leaves_one_delivery_event(client, sent):
    for _ in range(3):
        assert post(client, body(report("DELIVRD"))).status_code == 200
    assert DeliveryEvent.objects.filter(kind="callback").count() == 1


# --- size and number of reports -------------------------------------------------------------


def test_ten_thousand_reports_answer_413_within_a_second(client, sent, numbers):
    flood = body(*(report("DELIVRD", message_id=str(n)) for n in range(10_000)))
    assert len(flood) > 1_000_000

    started = time.perf_counter()
    response = post(client, flood)
    elapsed = time.perf_counter() - started

    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert elapsed < 1.0  # the bound; it reads 16 kB and stops
    numbers(
        f"a {len(flood) // 1000} kB callback of 10,000 reports refused in {elapsed * 1e3:.1f} ms"
    )
    assert not DeliveryEvent.objects.filter(kind="callback").exists()


def test_more_reports_than_allowed_in_a_small_body_answer_413(client, sent, settings):
    tiny = {"message_id": MESSAGE_ID, "status": "DELIVRD"}
    payload = json.dumps({"data": [tiny] * 101})
    assert len(payload) < settings.PHONE_VERIFY.get("MAX_BODY_SIZE", 16_384)

    response = post(client, payload)

    assert response.status_code == 413
    assert not DeliveryEvent.objects.filter(kind="callback").exists()


def test_a_deeply_nested_telesign_body_is_malformed_not_a_crash(client, telesign_sent):
    nested = b'{"reference_id": ' + b"[" * 3_000 + b"]" * 3_000 + b"}"

    response = signed_post(client, nested)

    assert response.status_code == 400 and response.json()["code"] == "malformed_callback"


@pytest.mark.parametrize(
    "payload",
    [
        {**SEED, "status": {**SEED["status"], "updated_on": {"nested": ["a", {"b": 1}]}}},
        {**SEED, "additional_info": [[[{"price": {"x": 1}}]]]},
        {**SEED, "reference_id": {"nested": SEED["reference_id"]}},
        {**SEED, "status": {**SEED["status"], "code": {"nested": 200}}},
    ],
)
def test_nested_values_in_a_telesign_callback_never_crash(client, telesign_sent, payload):
    response = signed_post(client, payload)

    assert response.status_code in (200, 400), response.content
    assert "code" in response.json() or "received" in response.json()


def test_a_callback_that_is_not_json_answers_415(client, sent):
    response = client.post(
        "/api/phone-verify/webhooks/fortytwo/",
        body(report("DELIVRD")),
        content_type="text/plain",
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"u:{SECRET}".encode()).decode(),
    )
    assert response.status_code == 415


# --- no secret in a URL ---------------------------------------------------------------------


def test_the_secret_is_never_in_a_path_or_query_and_never_logged(
    api, client, fortytwo_settings, caplog
):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mock:
        mock.post(f"{URL}/1/2fa", json=REQUEST_OK, status=201)
        verification_id = api.start("+33612345678").json()["id"]
        callback_url = json.loads(mock.calls[0].request.body)["callback_url"]

    parts = urlsplit(callback_url)
    assert parts.password == SECRET and parts.username == "phone_verify"
    assert SECRET not in parts.path + parts.query
    assert f"{parts.scheme}://{parts.hostname}" == PUBLIC

    # The provider calls it as any HTTP client does: credentials in the Authorization header.
    credentials = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
    refused = client.post(parts.path, body(report("DELIVRD")), content_type="application/json")
    accepted = client.post(
        parts.path,
        body(report("DELIVRD")),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )

    assert (refused.status_code, accepted.status_code) == (403, 200)
    assert Verification.objects.get(pk=verification_id).status == "delivered"
    assert caplog.records and not any(SECRET in record.getMessage() for record in caplog.records)
