"""The TeleSign callback webhook: the signature over the raw body is checked before anything is
parsed; the seed's callback example; replays and older reports change nothing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import responses

from phone_verify.models import Verification

from .fake_telesign import hmac_sha256 as signature  # TeleSign's rule, not the app's code
from .test_telesign import API_KEY, CUSTOMER_ID, PHONE, PUBLIC, REF, URL, answer

HOOK = "/api/phone-verify/webhooks/telesign/"
SEED = json.loads((Path(__file__).parent / "fixtures/telesign/callback_delivered.json").read_text())


@pytest.fixture
def sent(api, use_provider):
    options = {"URL": URL, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY}
    with use_provider("telesign", options, PUBLIC_URL=PUBLIC, POLL_MAX=0):
        with responses.RequestsMock() as mock:
            mock.post(f"{URL}/v1/verify/sms", json=answer(290, at="2016-07-08T20:52:41Z"))
            response = api.start(PHONE, consents={"sms": True})
        yield Verification.objects.get(pk=response.json()["id"])


def signed_post(client, payload, *, key=API_KEY, customer=CUSTOMER_ID, header="Authorization"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sig = signature(key, body)
    value = f"TSA {customer}:{sig}" if header == "Authorization" else sig
    return client.generic(
        "POST", HOOK, body, content_type="application/json", headers={header: value}
    )


def callback(code: int, at: str, **extra) -> dict:
    return {**SEED, "status": {**SEED["status"], "code": code, "updated_on": at}, **extra}


def test_the_seed_callback_is_applied_with_its_additional_info(client, sent):
    response = signed_post(client, SEED)

    assert response.status_code == 200 and response.json() == {"received": 1, "matched": 1}
    sent.refresh_from_db()
    assert sent.status == "delivered"
    event = sent.events.get(kind="callback")
    assert event.details == {
        "message_parts_count": 1,
        "price": "0.5112",
        "mnc": "03",
        "mcc": "220",
        "currency": "USD",
    }
    assert event.occurred_at.isoformat() == "2016-07-08T20:52:46.417428+00:00"


def test_the_bare_x_ts_authorization_header_is_accepted(client, sent):
    assert signed_post(client, SEED, header="X-TS-Authorization").status_code == 200


@pytest.mark.parametrize(
    ("header", "form"),
    [
        ("Authorization", "TSA {customer}:{signature}"),
        ("Authorization", "tsa {customer}:{signature}"),  # the scheme in lower case
        ("Authorization", "{signature}"),  # bare, as python_telesign's check compares it
        ("X-TS-Authorization", "{signature}"),
        ("X-TS-Authorization", "TSA {customer}:{signature}"),
    ],
)
def test_every_header_form_telesign_documents_is_accepted(client, sent, header, form):
    body = json.dumps(SEED).encode()
    value = form.format(customer=CUSTOMER_ID, signature=signature(API_KEY, body))

    response = client.generic(
        "POST", HOOK, body, content_type="application/json", headers={header: value}
    )

    assert response.status_code == 200, response.json()
    sent.refresh_from_db()
    assert sent.status == "delivered"


@pytest.mark.parametrize(
    "value",
    ["tsa {customer}:{bad}", "{bad}", "tsa other-customer:{signature}", "Basic {signature}"],
)
def test_each_header_form_with_a_wrong_signature_or_customer_is_refused(client, sent, value):
    body = json.dumps(SEED).encode()
    good = signature(API_KEY, body)
    value = value.format(customer=CUSTOMER_ID, signature=good, bad=good[:-4] + "AAA=")

    response = client.generic(
        "POST", HOOK, body, content_type="application/json", headers={"Authorization": value}
    )

    assert response.status_code == 401
    sent.refresh_from_db()
    assert sent.status == "pending"


def test_a_failed_callback_gives_the_reason_its_errors_name(client, sent):
    """Status 500 says "not attempted"; errors[] says why: -10030, no prepaid funds left."""
    failed = callback(500, "2016-07-08T20:52:46Z", errors=[{"code": -10030, "description": "x"}])

    assert signed_post(client, failed).status_code == 200

    sent.refresh_from_db()
    assert (sent.status, sent.reason) == ("failed", "provider_account")
    assert sent.events.get(kind="callback").provider_status == "500"


@pytest.mark.parametrize(
    "tamper",
    ["missing", "wrong", "other key", "other customer", "body changed", "not base64"],
)
def test_a_callback_not_signed_by_us_is_refused_401_and_changes_nothing(client, sent, tamper):
    body = json.dumps(SEED).encode()
    good = signature(API_KEY, body)
    headers = {
        "missing": {},
        "wrong": {"Authorization": f"TSA {CUSTOMER_ID}:{good[:-4]}AAA="},
        "other key": {
            "Authorization": f"TSA {CUSTOMER_ID}:"
            + signature(base64.b64encode(b"another key entirely..").decode(), body)
        },
        "other customer": {"Authorization": f"TSA 00000000-0000:{good}"},
        "body changed": {"Authorization": f"TSA {CUSTOMER_ID}:{good}"},
        "not base64": {"X-TS-Authorization": "%%%"},
    }[tamper]
    if tamper == "body changed":
        body = body.replace(b'"code": 200', b'"code": 211')

    response = client.generic("POST", HOOK, body, content_type="application/json", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_signature"
    sent.refresh_from_db()
    assert sent.status == "pending" and not sent.events.filter(kind="callback").exists()


def test_a_replayed_callback_changes_nothing(client, sent):
    first = signed_post(client, callback(203, "2016-07-08T20:52:44Z"))
    replay = signed_post(client, callback(203, "2016-07-08T20:52:44Z"))

    assert first.status_code == replay.status_code == 200
    assert sent.events.filter(kind="callback").count() == 1


def test_a_report_older_than_the_last_applied_changes_nothing(client, sent):
    signed_post(client, callback(200, "2016-07-08T20:52:46Z"))
    signed_post(client, callback(203, "2016-07-08T20:52:44Z"))  # late, and a step back
    signed_post(client, callback(211, "2016-07-08T20:52:45Z"))  # older than the delivery

    sent.refresh_from_db()
    assert sent.status == "delivered"
    events = sent.events.filter(kind="callback").order_by("id")
    assert [(e.provider_status, e.applied) for e in events] == [
        ("200", True),
        ("203", False),
        ("211", False),
    ]


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"status": {"code": 200}}', b'{"reference_id": "X", "status": 200}'],
)
def test_a_signed_but_malformed_body_answers_400(client, sent, payload):
    response = signed_post(client, payload)

    assert response.status_code == 400 and response.json()["code"] == "malformed_callback"


def test_a_callback_for_an_unknown_reference_answers_200(client, sent):
    response = signed_post(client, {**SEED, "reference_id": "0" * 32})

    assert response.status_code == 200 and response.json()["matched"] == 0
    assert REF == SEED["reference_id"]
