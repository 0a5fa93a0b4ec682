"""The Fortytwo delivery webhook: authenticated by the HTTP Basic credentials of its callback
URL (and optionally the source address) before the body is read; bundled reports applied;
duplicates, late, unknown and garbage reports handled."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import urlsplit

import pytest
import requests
import responses
from django.test import override_settings

from phone_verify.models import DeliveryEvent, Verification

from .test_fortytwo import HOOK, PUBLIC, REQUEST_OK, SECRET, URL, result

PHONE = "+33612345678"
MESSAGE_ID = "14466445287300014003"


def report(status: str, message_id: str = MESSAGE_ID, timestamp: int = 1_700_000_000_000) -> dict:
    return {
        "type": "SMS",
        "message_id": message_id,
        "status": status,
        "timestamp": timestamp,
        "micro_timestamp": timestamp * 1000,
        "to": "33612345678",
        "sms_from": "MyShop",
        "viber_from": "",
        "client_message_id": "",
        "error_code": 0,
    }


def body(*reports: dict) -> str:
    return json.dumps({"api_job_id": "job", "client_job_id": "", "data": list(reports)})


@pytest.fixture
def fortytwo_settings(use_provider):
    with use_provider(
        "fortytwo",
        {"URL": URL, "TOKEN": "t"},
        WEBHOOK_SECRETS=[SECRET, "older-secret-still-accepted"],
        PUBLIC_URL=PUBLIC,
    ):
        yield


@pytest.fixture
def sent(api, fortytwo_settings):
    with responses.RequestsMock() as mock:
        mock.post(f"{URL}/1/2fa", json=REQUEST_OK, status=201)
        response = api.start(PHONE, consents={"sms": True})
    return Verification.objects.get(pk=response.json()["id"])


def basic(secret: str, user: str = "phone_verify") -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def post(client, payload: str, path: str = HOOK, *, secret: str = SECRET, **extra):
    return client.post(
        path, payload, content_type="application/json", HTTP_AUTHORIZATION=basic(secret), **extra
    )


def statuses(verification):
    return [(e.kind, e.provider_status, e.applied) for e in verification.events.order_by("id")]


def test_after_a_lost_answer_and_minus_52_reports_still_find_the_verification(
    api, client, fortytwo_settings, settings
):
    """The first try went through but its answer was lost; the retry answers -52 (client_ref
    already used), so the message id is never learned. Fortytwo's report names only that
    message id, posted to the callback URL we gave: the URL names our client_ref."""
    with (
        override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "SEND_MAX_RETRIES": 1}),
        responses.RequestsMock() as mock,
    ):
        mock.post(f"{URL}/1/2fa", body=requests.ConnectionError("answer lost"))
        mock.post(f"{URL}/1/2fa", json=result(-52, "Client ref already exists."), status=422)
        created = api.start(PHONE, consents={"sms": True})
        callback_url = json.loads(mock.calls[-1].request.body)["callback_url"]
    verification = Verification.objects.get(pk=created.json()["id"])
    assert verification.sends_done == 1  # counted as sent: no second SMS

    response = post(
        client,
        body(report("DELIVRD")),
        path=urlsplit(callback_url).path + "?" + urlsplit(callback_url).query,
    )

    assert response.json() == {"received": 1, "matched": 1}
    verification.refresh_from_db()
    assert verification.status == "delivered"


def test_a_delivery_report_moves_the_verification_to_delivered(client, sent):
    response = post(client, body(report("DELIVRD")))

    assert response.status_code == 200
    assert response.json() == {"received": 1, "matched": 1}
    sent.refresh_from_db()
    assert sent.status == "delivered"
    event = sent.events.get(kind="callback")
    assert event.occurred_at.timestamp() == 1_700_000_000
    assert event.raw["sms_from"] == "MyShop"


def test_the_older_secret_is_accepted_during_rotation(client, sent):
    response = post(client, body(report("DELIVRD")), secret="older-secret-still-accepted")
    assert response.status_code == 200


@pytest.mark.parametrize("secret", ["wrong", SECRET[:-1], SECRET + "x", "a" * 200])
def test_a_wrong_secret_is_refused_before_the_body_is_read(client, sent, secret, settings):
    # Bigger than DATA_UPLOAD_MAX_MEMORY_SIZE: reading request.body would raise and answer 400.
    huge = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)

    response = post(client, huge, secret=secret)

    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    sent.refresh_from_db()
    assert sent.status == "pending" and not sent.events.filter(kind="callback").exists()


def test_without_any_secret_configured_every_callback_is_refused(client, sent, settings):
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "WEBHOOK_SECRETS": []}):
        assert post(client, body(report("DELIVRD"))).status_code == 403


def test_the_source_address_allow_list(client, sent, settings):
    options = {"URL": URL, "TOKEN": "t", "CALLBACK_IPS": ["80.252.167.60", "10.1.0.0/16"]}
    with override_settings(
        PHONE_VERIFY={**settings.PHONE_VERIFY, "PROVIDER_OPTIONS": {"fortytwo": options}}
    ):
        refused = post(client, body(report("DELIVRD")), REMOTE_ADDR="127.0.0.1")
        accepted = post(client, body(report("DELIVRD")), REMOTE_ADDR="10.1.2.3")
        also = post(client, body(report("DELIVRD")), REMOTE_ADDR="80.252.167.60")
    assert (refused.status_code, accepted.status_code, also.status_code) == (403, 200, 200)


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        json.dumps({"data": "DELIVRD"}),
        json.dumps({"api_job_id": "x"}),
        json.dumps({"data": [{"status": "DELIVRD"}]}),
        json.dumps({"data": [{"message_id": MESSAGE_ID}]}),
        json.dumps({"data": [report("DELIVRD"), "junk"]}),
    ],
)
def test_a_malformed_body_answers_400_and_changes_nothing(client, sent, payload):
    response = post(client, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_callback"
    sent.refresh_from_db()
    assert sent.status == "pending"


def test_a_report_for_an_unknown_message_answers_200_and_is_logged(client, sent, caplog):
    with caplog.at_level(logging.WARNING, logger="phone_verify"):
        response = post(client, body(report("DELIVRD", message_id="999")))

    assert response.status_code == 200 and response.json() == {"received": 1, "matched": 0}
    assert "unknown reference '999'" in caplog.text


def test_duplicates_and_late_reports_change_nothing_wrongly(client, sent):
    t = 1_700_000_000_000
    for state, at in [
        ("ENROUTE", t),
        ("DELIVRD", t + 2000),
        ("DELIVRD", t + 2000),  # a replay: dropped, not even stored again
        ("ACCEPTD", t + 1000),  # late: older than the last one applied
        ("UNDELIV", t + 3000),  # contradicts the handset's receipt
    ]:
        assert post(client, body(report(state, timestamp=at))).status_code == 200

    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert statuses(sent) == [
        ("send", "0", True),
        ("callback", "ENROUTE", True),
        ("callback", "DELIVRD", True),
        ("callback", "ACCEPTD", False),
        ("callback", "UNDELIV", False),
    ]


def test_bundled_reports_are_all_applied_in_order(client, sent):
    t = 1_700_000_000_000
    reports = [report("ENROUTE", timestamp=t), report("DELIVRD", timestamp=t + 1)]
    response = post(client, body(*reports, report("ENROUTE", timestamp=t + 2)))

    assert response.json() == {"received": 3, "matched": 3}
    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert [applied for _, _, applied in statuses(sent)] == [True, True, True, False]


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("ENROUTE", "sent"),
        ("ACCEPTD", "sent"),
        ("UNKNOWN", "sent"),
        ("DELIVRD", "delivered"),
        ("UNDELIV", "undeliverable"),
        ("DELETED", "undeliverable"),
        ("EXPIRED", "expired"),
        ("REJECTD", "rejected"),
        ("SOMETHING_NEW", "pending"),  # not in the table: stored, no change
    ],
)
def test_every_delivery_state(client, sent, state, status):
    post(client, body(report(state)))

    sent.refresh_from_db()
    assert sent.status == status
    event = sent.events.get(kind="callback")
    assert (event.provider_status, event.applied) == (state, status != "pending")


def test_a_report_for_the_first_code_after_a_resend_still_finds_its_verification(
    api, client, sent, settings
):
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RESEND_COOLDOWN": 0}):
        with responses.RequestsMock() as mock:
            second = result(0, "Success", result={"message_id": "222"})
            mock.post(f"{URL}/1/2fa", json=second, status=201)
            api.post(f"verifications/{sent.pk}/resend/")

    assert post(client, body(report("DELIVRD", message_id=MESSAGE_ID))).json()["matched"] == 1
    sent.refresh_from_db()
    assert sent.provider_reference == f"{sent.pk}-2" and sent.status == "delivered"


def test_a_provider_without_callbacks_and_an_unknown_one_answer_404(client, sent):
    for name in ("dqe", "console", "nobody"):
        path = f"/api/phone-verify/webhooks/{name}/"
        assert post(client, body(report("DELIVRD")), path).status_code == 404


def test_only_post_is_allowed(client, sent):
    assert client.get(HOOK).status_code == 405


def test_queries_per_callback(client, sent, django_assert_max_num_queries):
    # per report: find by reference (2 selects: current, then earlier sends), replay and
    # staleness checks (2), update, insert
    with django_assert_max_num_queries(6 + 2):
        post(client, body(report("DELIVRD")))
    assert DeliveryEvent.objects.filter(kind="callback").count() == 1


class FailingDatabase:
    """A ``connection.execute_wrapper`` that fails the ``n``-th statement after it is installed
    as a lost connection would (``OperationalError``), and lets the others through."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, 0

    def __call__(self, execute, sql, params, many, context):
        from django.db import OperationalError

        self.seen += 1
        if self.seen == self.n:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@pytest.mark.parametrize("fail_at", [1, 3, 6])
def test_the_database_failing_during_a_callback_answers_503_and_stores_nothing(
    client, sent, fail_at
):
    """The two reports of a bundle are stored together or not at all: the provider retries a 503
    and the retry must find nothing half-done (statement 1 fails before anything is written,
    3 after the first status change, 6 in the middle of the second report)."""
    from django.db import connection

    t = 1_700_000_000_000
    payload = body(report("ENROUTE", timestamp=t), report("DELIVRD", timestamp=t + 1))
    with connection.execute_wrapper(FailingDatabase(fail_at)):
        failed = post(client, payload)

    assert failed.status_code == 503
    assert failed.json()["code"] == "temporarily_unavailable"
    sent.refresh_from_db()
    assert sent.status == "pending" and not sent.events.filter(kind="callback").exists()

    retried = post(client, payload)  # what the provider does with a 503
    assert retried.json() == {"received": 2, "matched": 2}
    sent.refresh_from_db()
    assert sent.status == "delivered"
    assert [s for k, s, _ in statuses(sent) if k == "callback"] == ["ENROUTE", "DELIVRD"]
