"""DQE ID Mobile formfilling against ``responses`` mocks: the token, the consent request, the
return, the polled retrieval (the seed's answers and every error id), the session rule, the
purge."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from phone_verify import limits, prefills, retention
from phone_verify.models import ConsentRecord, IdentityPrefill, Verification

from .conftest import Api

URL = "https://dqe.example.test"
PHONE = "+33612345678"
PUBLIC = "https://shop.example.com"
FIXTURES = Path(__file__).parent / "fixtures" / "dqe"
OPERATOR_URL = "https://openid.orange.test/consent?x=1"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


TOKEN = {"access_token": "tok-1", "token_type": "Bearer", "expires_in": "300", "status": "success"}
CONSENT = {"status": "success", "operator": "Orange", "url": OPERATOR_URL}


def params_of(call) -> dict:
    if call.request.method == "POST":
        return dict(parse_qsl(call.request.body))
    return dict(parse_qsl(urlsplit(call.request.url).query))


@pytest.fixture
def options():
    return {"URL": URL, "LICENCE": "LIC-1", "COMPANY": "MYSHOP", "CLIENT_SECRET": "s3cret"}


@pytest.fixture
def dqe(use_provider, options):
    cache.clear()
    with use_provider("dqe", options, PUBLIC_URL=PUBLIC), responses.RequestsMock() as mock:
        yield mock
    cache.clear()


def start(api, **body):
    return api.post("prefills/", {"phone_number": PHONE, **body})


@pytest.fixture
def started(api, dqe):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)
    response = start(api, return_url="/signup/")
    assert response.status_code == 202, response.json()
    dqe.calls.reset()
    return IdentityPrefill.objects.get(pk=response.json()["id"])


def come_back(api, prefill, token="sess-1", status="success"):
    path = f"/api/phone-verify/prefills/{prefill.pk}/return/"
    return api.request("get", path, {"token": token, "status": status}, format=None)


# --- start ----------------------------------------------------------------------------------


def test_start_gets_a_token_asks_for_consent_and_answers_the_operator_url(api, dqe):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    response = start(api)

    assert response.status_code == 202
    body = response.json()
    prefill = IdentityPrefill.objects.get()
    assert body == {"id": str(prefill.pk), "status": "pending", "redirect_url": OPERATOR_URL}
    token_call, consent_call = dqe.calls
    assert params_of(token_call) == {
        "licence": "LIC-1",
        "client_secret": "s3cret",
        "grant_type": "client_idmobile",
    }
    assert params_of(consent_call) == {
        "licence": "LIC-1",
        "number": "33612345678",
        "token": "tok-1",
        "mode": "2",
        "name": "MYSHOP",
        "scope": "formfilling",
        "redirect_uri": f"{PUBLIC}/api/phone-verify/prefills/{prefill.pk}/return/",
    }
    assert (prefill.operator, prefill.phone_number, prefill.session_hash != "") == (
        "Orange",
        PHONE,
        True,
    )


def test_the_token_is_cached_until_shortly_before_it_expires(api, dqe):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    start(api)
    start(api)

    paths = [urlsplit(call.request.url).path for call in dqe.calls]
    assert paths == ["/ACCESS_TOKEN/", "/IDMOBILE/", "/IDMOBILE/"]


def test_an_expired_token_is_renewed_once(api, dqe):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json={"status": "error", "error_id": "30", "error_type": "x"})
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    assert start(api).status_code == 202
    paths = [urlsplit(call.request.url).path for call in dqe.calls]
    assert paths == ["/ACCESS_TOKEN/", "/IDMOBILE/", "/ACCESS_TOKEN/", "/IDMOBILE/"]


def test_matching_scope_sends_user_infos_with_every_key(api, dqe, options):
    options["IDMOBILE_SCOPE"] = "matching,formfilling"
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    start(api)

    params = params_of(dqe.calls[1])
    assert params["scope"] == "matching,formfilling"
    infos = json.loads(params["user_infos"])
    assert infos["phone"] == infos["number"] == "33612345678"
    assert sorted(infos) == sorted(
        "street_address postal_code locality country birthdate email lastname maiden_name "
        "gender firstname phone number".split()
    )


@pytest.mark.parametrize(
    ("error_id", "code"),
    [
        ("01", "provider_config"),
        ("03", "provider_auth"),
        ("22", "provider_auth"),
        ("30", "provider_auth"),
        ("31", "provider_config"),
        ("98", "provider_account"),
    ],
)
def test_every_token_error(api, dqe, error_id, code):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json={"status": "error", "error_id": error_id}, status=400)

    response = start(api)

    assert (response.status_code, response.json()["code"]) == (503, code)
    assert response.json()["provider_code"] == error_id
    assert not IdentityPrefill.objects.exists()


CONSENT_ERRORS = {
    **{e: (503, "provider_config") for e in ("01", "04", "05", "06", "07")},
    "02": (503, "provider_auth"),
    "09": (400, "ineligible_number"),
    "10": (400, "invalid_phone_number"),
    "11": (400, "invalid_phone_number"),
    "12": (400, "operator_check_failed"),
    "13": (400, "operator_not_found"),
    "14": (400, "operator_not_supported"),
    "15": (400, "operator_not_supported"),
    "16": (503, "operator_unreachable"),
    "17": (400, "operator_not_supported"),
    "30": (503, "token_expired"),  # even after renewing the token once
    "77": (503, "provider_error"),
}


@pytest.mark.parametrize("error_id", sorted(CONSENT_ERRORS))
def test_every_consent_error(api, dqe, error_id):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json={"status": "error", "error_id": error_id, "error_type": "x"})

    response = start(api)

    assert (response.status_code, response.json()["code"]) == CONSENT_ERRORS[error_id]
    assert response.json()["detail"]
    assert not IdentityPrefill.objects.exists()


@pytest.mark.parametrize(
    "fault",
    [{"body": requests.ConnectionError("refused")}, {"status": 500}, {"body": "<html>"}],
    ids=["refused", "500", "garbage"],
)
def test_dqe_unreachable_at_start_answers_503(api, dqe, fault):
    dqe.post(f"{URL}/ACCESS_TOKEN/", **fault)

    response = start(api)

    assert (response.status_code, response.json()["code"]) == (503, "provider_unavailable")


def test_without_a_client_secret_prefill_is_unavailable(api, dqe, options):
    options["CLIENT_SECRET"] = ""

    response = start(api)

    assert (response.status_code, response.json()["code"]) == (503, "prefill_unavailable")
    assert len(dqe.calls) == 0


def test_a_bad_number_is_refused_before_calling_dqe(api, dqe):
    response = start(api, phone_number="12")

    assert response.status_code == 400 and len(dqe.calls) == 0


# --- return and session ---------------------------------------------------------------------


def test_the_return_stores_the_token_polls_once_and_sends_the_browser_back(api, dqe, started):
    dqe.get(f"{URL}/GET/", json=fixture("idmobile_pending.json"))

    response = come_back(api, started)

    assert response.status_code == 302 and response["Location"] == "/signup/"
    (call,) = dqe.calls
    assert params_of(call) == {"token": "sess-1", "Licence": "LIC-1", "scope": "client_idmobile"}
    started.refresh_from_db()
    assert (started.dqe_token, started.status, started.polls) == ("sess-1", "pending", 1)


def test_another_session_can_neither_read_nor_return(
    api, dqe, started, django_capture_on_commit_callbacks
):
    other = Api(django_capture_on_commit_callbacks)

    assert other.get(f"prefills/{started.pk}/").status_code == 404
    assert come_back(other, started).status_code == 404
    assert api.get(f"prefills/{started.pk}/").status_code == 200
    started.refresh_from_db()
    assert started.dqe_token == ""


def test_only_the_first_return_counts(api, dqe, started):
    dqe.get(f"{URL}/GET/", json=fixture("idmobile_pending.json"))
    come_back(api, started, token="first")
    come_back(api, started, token="second")

    started.refresh_from_db()
    assert started.dqe_token == "first" and len(dqe.calls) == 1


def test_an_outside_return_url_is_replaced_by_the_site_root(api, dqe):
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    start(api, return_url="https://evil.example/phish")

    assert IdentityPrefill.objects.get().return_url == "/"


# --- retrieval ------------------------------------------------------------------------------


def returned(prefill: IdentityPrefill) -> IdentityPrefill:
    IdentityPrefill.objects.filter(pk=prefill.pk).update(dqe_token="sess-1")
    return prefill


def due(prefill: IdentityPrefill) -> None:
    IdentityPrefill.objects.filter(pk=prefill.pk).update(next_poll_at=timezone.now())


def test_pending_pending_success_through_the_api(api, dqe, started):
    dqe.get(f"{URL}/GET/", json=fixture("idmobile_pending.json"))
    dqe.get(f"{URL}/GET/", json=fixture("idmobile_pending.json"))
    dqe.get(f"{URL}/GET/", json=fixture("idmobile_success.json"))
    come_back(api, started)  # poll 1: pending

    not_due = api.get(f"prefills/{started.pk}/").json()  # the next poll is not due yet
    due(started)
    second = api.get(f"prefills/{started.pk}/").json()  # poll 2: pending
    due(started)
    third = api.get(f"prefills/{started.pk}/").json()  # poll 3: success

    assert len(dqe.calls) == 3
    assert not_due == {"id": str(started.pk), "status": "pending", "data": None}
    assert second["status"] == "pending"
    assert third["status"] == "success"
    seed = fixture("idmobile_success.json")["formfilling"]
    assert third["data"] == seed  # every field of the seed, the address included
    started.refresh_from_db()
    assert started.polls == 3 and started.completed_at is not None


RETRIEVAL_ERRORS = {
    "01": "provider_config",
    "02": "provider_auth",
    "04": "provider_config",
    "18": "no_data",
    "20": "otp_not_completed",
    "21": "access_denied",
    "30": "token_expired",
    "42": "provider_error",
}


@pytest.mark.parametrize("error_id", sorted(RETRIEVAL_ERRORS))
def test_every_retrieval_error(api, dqe, started, error_id):
    returned(started)
    dqe.get(f"{URL}/GET/", json={"status": "error", "error_type": "x", "error_id": error_id})

    assert prefills.poll_prefill(started.pk) is None  # settled: no more polls

    answer = api.get(f"prefills/{started.pk}/").json()
    assert answer["status"] == "error" and answer["code"] == RETRIEVAL_ERRORS[error_id]
    assert answer["detail"] and answer["data"] is None
    started.refresh_from_db()
    assert (started.error_id, started.error_type) == (error_id, "x")


@pytest.mark.parametrize(
    "answer",
    [
        {"json": fixture("idmobile_error.json")},  # 99: DQE's internal error, retryable
        {"json": fixture("idmobile_pending.json")},
        {"body": requests.ReadTimeout("slow")},
        {"status": 502},
        {"body": "garbage"},
    ],
    ids=["99", "pending", "timeout", "502", "garbage"],
)
def test_retryable_answers_wait_with_backoff(dqe, started, answer):
    returned(started)
    dqe.get(f"{URL}/GET/", **answer)

    delay = prefills.poll_prefill(started.pk)

    assert 1 <= delay <= 2  # first backoff step
    started.refresh_from_db()
    assert started.status == "pending" and started.next_poll_at > timezone.now()
    assert prefills.poll_prefill(started.pk) is None  # not due yet: nothing asked
    assert len(dqe.calls) == 1


def test_past_the_token_lifetime_it_ends_token_expired_without_asking(api, dqe, started):
    returned(started)
    IdentityPrefill.objects.filter(pk=started.pk).update(
        token_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )

    assert prefills.poll_prefill(started.pk) is None
    answer = api.get(f"prefills/{started.pk}/").json()
    assert (answer["status"], answer["code"]) == ("error", "token_expired")
    assert len(dqe.calls) == 0


# --- purge ----------------------------------------------------------------------------------


def test_the_purge_blanks_old_identity_data_and_nothing_else(api, dqe, started, outbox):
    old = started
    IdentityPrefill.objects.filter(pk=old.pk).update(
        status="success",
        data={"given_name": "Ada"},
        dqe_token="t",
        created_at=timezone.now() - dt.timedelta(hours=2),
    )
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)
    recent = IdentityPrefill.objects.get(pk=start(api).json()["id"])
    IdentityPrefill.objects.filter(pk=recent.pk).update(data={"given_name": "Grace"})
    api.start(PHONE, consents={"sms": True})  # a verification and its consent record

    assert retention.purge(dry_run=True)["identity_prefills_blanked"] == 1
    assert IdentityPrefill.objects.get(pk=old.pk).data == {"given_name": "Ada"}  # dry run

    said = StringIO()
    call_command("phone_verify_purge", stdout=said)
    assert "1 identity prefills blanked, 0 identity prefills deleted" in said.getvalue()

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.data, old.dqe_token, old.operator_url, old.purged_at is not None) == (
        None,
        "",
        "",
        True,
    )
    assert old.phone_number == "+33 6 ** ** *6 78" and old.status == "success"
    assert recent.data == {"given_name": "Grace"} and recent.purged_at is None
    assert Verification.objects.count() == 1 and ConsentRecord.objects.count() == 1
    assert retention.purge()["identity_prefills_blanked"] == 0  # already purged: not again


def test_the_admin_masks_identity_data(api, dqe, started, staff_client):
    IdentityPrefill.objects.filter(pk=started.pk).update(
        status="success", data={"given_name": "Ada", "family_name": "Lovelace"}
    )

    listing = staff_client.get("/admin/phone_verify/identityprefill/").content.decode()
    detail = staff_client.get(f"/admin/phone_verify/identityprefill/{started.pk}/change/")
    html = detail.content.decode()

    assert "+33 6 ** ** *6 78" in listing and PHONE not in listing
    assert detail.status_code == 200
    assert "Lovelace" not in html and "Ada" not in html and "L*******" in html


def test_the_example_projects_beat_schedule_runs_the_purge_and_the_dispatcher(db):
    from example_project.celery import app

    app.loader.import_default_modules()
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert tasks == {
        "phone_verify.tasks.purge_expired_data",
        "phone_verify.tasks.dispatch_sends",
    }
    assert app.tasks["phone_verify.tasks.dispatch_sends"].run() == 0  # no send owed here
    assert set(app.tasks["phone_verify.tasks.purge_expired_data"].run().values()) == {0}


# --- limits ---------------------------------------------------------------------------------


def test_prefills_from_one_address_are_limited_like_sends(api, dqe):
    """Each prefill costs an operator request: past ``prefill_per_ip_hour`` one address is
    answered 429 with Retry-After, and DQE is not asked."""
    allowed = limits.DEFAULT_LIMITS["prefill_per_ip_hour"][0]
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    answers = [
        api.post(
            "prefills/", {"phone_number": f"+336{n:02d}{n:06d}"[:12]}, REMOTE_ADDR="203.0.113.9"
        )
        for n in range(allowed + 1)
    ]

    assert [a.status_code for a in answers[:allowed]] == [202] * allowed
    refused = answers[allowed]
    assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
    assert 0 < int(refused["Retry-After"]) <= 3600
    consent_requests = [c for c in dqe.calls if c.request.url.endswith("/IDMOBILE/")]
    assert len(consent_requests) == allowed == IdentityPrefill.objects.count()


def test_prefills_for_one_number_are_limited_whoever_asks(api, dqe):
    allowed = limits.DEFAULT_LIMITS["prefill_per_phone_hour"][0]
    dqe.post(f"{URL}/ACCESS_TOKEN/", json=TOKEN)
    dqe.post(f"{URL}/IDMOBILE/", json=CONSENT)

    codes = [
        api.post("prefills/", {"phone_number": PHONE}, REMOTE_ADDR=f"198.51.100.{n}").status_code
        for n in range(allowed + 1)
    ]

    assert codes == [202] * allowed + [429]
