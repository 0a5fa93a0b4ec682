"""DQE SMS Phone Confirmation against ``responses`` mocks: the exact parameters sent, every
status and error code of the seed tables, the seed JSON examples, and the faults."""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from django.core.checks import run_checks
from django.utils import timezone

from phone_verify.models import ConsentEcho, ConsentRecord, DeliveryEvent, Verification

from .processes import free_port

FIXTURES = Path(__file__).parent / "fixtures" / "dqe"
URL = "https://dqe.example.test"
PHONE = "+33612345678"
SECONDARY = {
    "sms": True,
    "email": True,
    "sms2": True,
    "phone3": True,
    "email4": True,
    "post5": True,
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def msg_answer(error: str = "00", status: str = "PENDING", **fields) -> dict:
    """A GDPR_MSG answer shaped like the seed example, with another error code or status."""
    answer = fixture("gdpr_msg_delivered.json")
    answer.update(errors={error: f"{error} - text"}, status=status, **fields)
    return answer


def verif_answer(error: str = "00", status: str = "KO") -> dict:
    answer = fixture("gdpr_verif_ok.json")
    answer.update(errors={error: f"{error} - text"}, status=status)
    return answer


def sent_params(call) -> dict:
    """The parameters of one recorded call, form body or query string."""
    if call.request.method == "POST":
        return dict(parse_qsl(call.request.body))
    return dict(parse_qsl(urlsplit(call.request.url).query))


@pytest.fixture
def dqe_options():
    return {"URL": URL, "LICENCE": "LIC-123", "COMPANY": "MYCOMPANY"}


@pytest.fixture
def dqe(use_provider, dqe_options):
    with use_provider("dqe", dqe_options, SEND_MAX_RETRIES=2, CODE_LIFETIME=600):
        with responses.RequestsMock() as mock:
            yield mock


def start(api, consents=None):
    response = api.start(PHONE, consents=consents or {"sms": True, "email": True})
    assert response.status_code == 201, response.json()
    return Verification.objects.get(pk=response.json()["id"])


# --- GDPR_MSG -------------------------------------------------------------------------------


def test_send_posts_every_parameter_and_the_consent_flags_of_five_contacts(api, dqe):
    dqe.post(f"{URL}/GDPR_MSG/", json=fixture("gdpr_msg_delivered.json"))

    start(api, SECONDARY)

    (call,) = dqe.calls
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urlsplit(call.request.url).query == ""  # the licence stays out of URLs and logs
    flags = {
        **{name: "0" for name in ("Phonecom", "Post")},
        **{"Sms": "1", "Email": "1"},
        **{f"{c}{n}": "0" for c in ("SMS", "PHONE", "EMAIL", "POST") for n in range(2, 6)},
        **{"SMS2": "1", "PHONE3": "1", "EMAIL4": "1", "POST5": "1"},
    }
    assert sent_params(call) == {
        "Licence": "LIC-123",
        "Phone": "33612345678",
        "Country": "FRA",
        "Company": "MYCOMPANY",
        "Custom_sms": "Your verification code:",
        "Duration": "10",  # CODE_LIFETIME 600 s
        **flags,
    }


def test_get_is_an_option_and_custom_sms_is_configurable(api, dqe, dqe_options):
    dqe_options.update(METHOD="GET", CUSTOM_SMS="Code MyShop :")
    dqe.get(f"{URL}/GDPR_MSG/", json=fixture("gdpr_msg_delivered.json"))

    start(api)

    params = sent_params(dqe.calls[0])
    assert params["Custom_sms"] == "Code MyShop :" and params["Licence"] == "LIC-123"
    assert params["Sms"] == "1" and params["POST5"] == "0"


def test_the_seed_gdpr_msg_example_is_read_field_by_field(api, dqe):
    dqe.post(f"{URL}/GDPR_MSG/", json=fixture("gdpr_msg_delivered.json"))
    before = timezone.now()

    verification = start(api)

    assert verification.status == "delivered"
    assert verification.provider_reference == "C6hfYZIER3CVoGVYwTiZLg"
    assert verification.code_hash == ""  # DQE keeps the PIN; we never see it
    # timeout "3" (minutes) is shorter than our 10: DQE's wins
    expected = before + dt.timedelta(minutes=3)
    assert expected <= verification.expires_at <= timezone.now() + dt.timedelta(minutes=3)
    event = DeliveryEvent.objects.get(verification=verification)
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    assert event.occurred_at == dt.datetime(2019, 7, 29, 11, 32, 32, 876709, tzinfo=paris)
    assert (event.provider_status, event.raw["smsToken"]) == ("DELIVERED", "C6hfYZIER3CVoGVYwTiZLg")
    echo = ConsentEcho.objects.get()
    assert echo.record.verification_id == verification.pk
    assert echo.channels == {"sms": True, "email": True, "phone": False, "post": False}
    assert echo.matches is True


def test_an_echo_that_differs_from_the_record_is_flagged_and_logged(api, dqe, caplog):
    dqe.post(f"{URL}/GDPR_MSG/", json=fixture("gdpr_msg_delivered.json"))  # echoes sms+email

    with caplog.at_level(logging.WARNING, logger="phone_verify"):
        verification = start(api, {"sms": True, "post": True})

    echo = ConsentEcho.objects.get()
    assert echo.matches is False
    assert "differ from the record" in caplog.text and "+33 6" in caplog.text
    assert PHONE not in caplog.text  # masked
    record = ConsentRecord.objects.get(verification=verification)
    assert record.post is True and record.email is False  # the record keeps what the user said
    assert record.seal_is_valid()


def test_the_admin_shows_the_echo_beside_the_record(api, dqe, staff_client):
    dqe.post(f"{URL}/GDPR_MSG/", json=fixture("gdpr_msg_delivered.json"))
    start(api, {"sms": True, "post": True})
    record = ConsentRecord.objects.get()

    page = staff_client.get(f"/admin/phone_verify/consentrecord/{record.pk}/change/")

    html = page.content.decode()
    assert page.status_code == 200
    assert "provider consent echoes" in html.lower() and "icon-no.svg" in html
    assert "&quot;email&quot;: true" in html  # what DQE said it received


@pytest.mark.parametrize(
    ("dqe_status", "status", "reason"),
    [
        ("PENDING", "sent", ""),
        ("DELIVERED", "delivered", ""),
        ("UNDELIVERABLE", "undeliverable", "undeliverable"),
        ("EXPIRED", "expired", "message_expired"),  # the message, not the code
        ("REJECTED", "rejected", "rejected"),
    ],
)
def test_every_gdpr_msg_status(api, dqe, dqe_status, status, reason):
    dqe.post(f"{URL}/GDPR_MSG/", json=msg_answer(status=dqe_status))

    verification = start(api)

    assert (verification.status, verification.reason) == (status, reason)
    assert DeliveryEvent.objects.get(verification=verification).provider_status == dqe_status


# Every code of the GDPR_MSG error table: what the verification becomes and its reason.
# 08 is retried (SEND_MAX_RETRIES=2: three calls); the others are final at once.
MSG_ERRORS = [
    ("00", "sent", "", 1),
    ("01", "failed", "provider_config", 1),
    ("02", "failed", "provider_auth", 1),
    ("03", "rejected", "invalid_phone_number", 1),
    ("04", "rejected", "invalid_country", 1),
    ("05", "failed", "provider_config", 1),
    ("06", "rejected", "invalid_country", 1),
    ("07", "failed", "provider_config", 1),
    ("08", "failed", "provider_unavailable", 3),
    ("09", "sent", "", 1),  # no delivery receipt: the PIN may still arrive
    ("10", "failed", "provider_config", 1),
    ("11", "failed", "no_channel_selected", 1),
    ("42", "failed", "provider_error", 1),  # undocumented: not retried (could send twice)
]


@pytest.mark.parametrize(("code", "status", "reason", "calls"), MSG_ERRORS)
def test_every_gdpr_msg_error_code(api, dqe, code, status, reason, calls):
    failed = code not in ("00", "09")
    dqe.post(
        f"{URL}/GDPR_MSG/",
        json=msg_answer(code, status="" if failed else "PENDING", smsToken="" if failed else "t"),
    )

    verification = start(api)

    assert len(dqe.calls) == calls
    assert (verification.status, verification.reason) == (status, reason)
    assert ConsentRecord.objects.filter(verification=verification).count() == 1
    event = DeliveryEvent.objects.get(verification=verification)
    assert event.provider_status == ("PENDING" if not failed else code)
    assert event.raw["errors"] == {code: f"{code} - text"}
    shown = api.get(f"verifications/{verification.pk}/")
    assert (shown.status_code, shown.json()["status"]) == (200, status)


def test_no_channel_is_refused_before_calling_dqe(api, dqe):
    response = api.start(PHONE, consents={"sms": False})

    assert response.status_code == 400
    assert response.json()["code"] == "no_channel_selected"
    assert len(dqe.calls) == 0 and not Verification.objects.exists()
    assert not ConsentRecord.objects.exists()


# --- faults: retried with backoff, then failed provider_unavailable; never a 500 ------------


@pytest.mark.parametrize(
    "fault",
    [
        {"body": requests.ConnectTimeout("connect timeout")},
        {"body": requests.ReadTimeout("read timeout")},
        {"body": requests.ConnectionError("connection refused")},
        {"status": 500, "body": "Internal Server Error"},
        {"status": 502, "json": {"error": "bad gateway"}},
        {"status": 200, "body": "<html>maintenance</html>"},
        {"status": 200, "json": ["not", "an", "object"]},
        {"json": msg_answer("08", status="")},
    ],
    ids=["connect-timeout", "read-timeout", "refused", "500", "502", "html", "json-list", "08"],
)
def test_faults_are_retried_then_end_in_failed_provider_unavailable(api, dqe, fault):
    for _ in range(3):
        dqe.post(f"{URL}/GDPR_MSG/", **fault)

    verification = start(api)

    assert len(dqe.calls) == 3  # first try + SEND_MAX_RETRIES=2
    assert (verification.status, verification.reason) == ("failed", "provider_unavailable")
    assert ConsentRecord.objects.filter(verification=verification).count() == 1
    assert api.get(f"verifications/{verification.pk}/").json()["status"] == "failed"


def test_a_fault_then_success_delivers(api, dqe):
    dqe.post(f"{URL}/GDPR_MSG/", body=requests.ReadTimeout("slow"))
    dqe.post(f"{URL}/GDPR_MSG/", json=msg_answer("08", status=""))
    dqe.post(f"{URL}/GDPR_MSG/", json=fixture("gdpr_msg_delivered.json"))

    verification = start(api)

    assert verification.status == "delivered" and verification.sends_done == 1


def test_a_refused_connection_for_real(api, use_provider, dqe_options):
    """No mock: a port where nothing listens on 127.0.0.1."""
    dqe_options["URL"] = f"http://127.0.0.1:{free_port()}"
    with use_provider("dqe", dqe_options, SEND_MAX_RETRIES=1):
        verification = start(api)

    assert (verification.status, verification.reason) == ("failed", "provider_unavailable")
    assert DeliveryEvent.objects.get().provider_status == "connection"


# --- GDPR_VERIF -----------------------------------------------------------------------------


@pytest.fixture
def sent(api, dqe):
    dqe.post(f"{URL}/GDPR_MSG/", json=msg_answer(status="PENDING", smsToken="TOKEN-1"))
    verification = start(api)
    dqe.calls.reset()
    return verification


def test_the_seed_gdpr_verif_example_verifies(api, dqe, sent):
    dqe.post(f"{URL}/GDPR_VERIF/", json=fixture("gdpr_verif_ok.json"))

    response = api.check(sent.pk, "123456")

    assert response.status_code == 200 and response.json()["status"] == "verified"
    (call,) = dqe.calls
    assert sent_params(call) == {"Phone": "33612345678", "Token": "TOKEN-1", "Pin": "123456"}


@pytest.mark.parametrize(
    ("code", "dqe_status", "http", "answer_code", "status", "attempts"),
    [
        ("00", "OK", 200, None, "verified", 1),
        ("00", "KO", 400, "invalid_code", "sent", 1),
        ("01", "KO", 400, "verification_failed", "failed", 0),
        ("02", "KO", 400, "invalid_code", "sent", 1),
        ("03", "KO", 400, "expired", "expired", 1),
        ("04", "KO", 400, "invalid_code", "sent", 1),
        ("05", "KO", 400, "verification_failed", "failed", 0),
        ("42", "KO", 503, "provider_unavailable", "sent", 0),  # undocumented: may be retried
    ],
)
def test_every_gdpr_verif_code(
    api, dqe, sent, code, dqe_status, http, answer_code, status, attempts
):
    dqe.post(f"{URL}/GDPR_VERIF/", json=verif_answer(code, dqe_status))

    response = api.check(sent.pk, "123456")

    assert response.status_code == http, response.json()
    assert response.json().get("code") == answer_code
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == (status, attempts)
    if code in ("01", "05"):
        assert sent.reason == {"01": "provider_config", "05": "invalid_token"}[code]


def test_a_pin_that_is_not_six_digits_never_reaches_dqe(api, dqe, sent):
    for pin in ("12345", "1234567", "12a456", ""):
        response = api.check(sent.pk, pin)
        assert response.status_code == 400
        assert response.json()["code"] in ("invalid_code_format", "invalid_request")
    assert len(dqe.calls) == 0
    sent.refresh_from_db()
    assert sent.attempts == 0


def test_our_attempt_limit_applies_because_dqe_has_none(api, dqe, sent, settings):
    dqe.post(f"{URL}/GDPR_VERIF/", json=verif_answer("04"))
    limit = settings.PHONE_VERIFY.get("MAX_CHECK_ATTEMPTS", 5)

    answers = [api.check(sent.pk, "000000") for _ in range(limit + 1)]

    assert len(dqe.calls) == limit  # the last one is refused without calling DQE
    assert answers[-1].status_code == 429
    assert answers[-1].json()["code"] == "too_many_attempts"


@pytest.mark.parametrize(
    "fault",
    [{"body": requests.ReadTimeout("slow")}, {"status": 503, "body": ""}, {"body": "garbage"}],
    ids=["timeout", "503", "garbage"],
)
def test_a_check_fault_answers_503_and_costs_no_attempt(api, dqe, sent, fault):
    dqe.post(f"{URL}/GDPR_VERIF/", **fault)

    response = api.check(sent.pk, "123456")

    assert response.status_code == 503
    assert response.json()["code"] == "provider_unavailable"
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == ("sent", 0)


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error_id", "words"),
    [
        ({"LICENCE": ""}, "phone_verify.E101", "['LICENCE'] must be set"),
        ({"URL": "dqe.example.test"}, "phone_verify.E101", "absolute http(s) URL"),
        ({"COMPANY": "AB"}, "phone_verify.E102", "3 to 11 characters"),
        ({"COMPANY": "ABCDEFGHIJKL"}, "phone_verify.E102", "3 to 11 characters"),
        ({"CUSTOM_SMS": "x" * 126}, "phone_verify.E103", "at most 125"),
        ({"METHOD": "PUT"}, "phone_verify.E104", "'POST' or 'GET'"),
        ({"TIME_ZONE": "Mars/Olympus"}, "phone_verify.E105", "time zone"),
    ],
)
def test_system_checks_name_the_option_to_fix(use_provider, dqe_options, options, error_id, words):
    with use_provider("dqe", {**dqe_options, **options}):
        messages = [m for m in run_checks() if m.id.startswith("phone_verify")]
    assert [m.id for m in messages] == [error_id]
    assert words in messages[0].msg and "['dqe']" in messages[0].msg


def test_a_valid_configuration_passes_the_checks(use_provider, dqe_options):
    with use_provider("dqe", {**dqe_options, "CUSTOM_SMS": "x" * 125}):
        assert [m for m in run_checks() if m.id.startswith("phone_verify")] == []
