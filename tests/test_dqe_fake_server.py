"""DQE over real HTTP: the provider against the fake DQE server on 127.0.0.1, in-process and
from the example project started as a user would start it (``PHONE_VERIFY_PROVIDER=dqe``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from phone_verify.models import ConsentEcho, Verification

from .fake_dqe import FakeDqe
from .fake_server import running
from .processes import example_project, free_port, start_server

PHONE = "+33612345678"
FIXTURES = Path(__file__).parent / "fixtures" / "dqe"
CONSENTS = {"sms": True, "email": True, "sms2": True, "phone3": True, "post5": True}


@pytest.fixture
def fake_dqe():
    fake = FakeDqe(licence="LIC-FAKE")
    with running(fake) as url:
        yield fake, url


@pytest.fixture
def dqe_settings(use_provider, fake_dqe):
    fake, url = fake_dqe
    options = {"URL": url, "LICENCE": "LIC-FAKE", "COMPANY": "MYSHOP"}
    with use_provider("dqe", options, SEND_MAX_RETRIES=3):
        yield fake


def test_send_and_check_through_the_fake_server(api, dqe_settings):
    fake = dqe_settings
    created = api.start(PHONE, consents=CONSENTS)
    assert created.status_code == 201, created.json()
    verification_id = created.json()["id"]

    pin = fake.pin_for("33612345678")
    wrong = api.check(verification_id, f"{(int(pin) + 1) % 10**6:06d}")
    right = api.check(verification_id, pin)

    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_code"
    assert right.status_code == 200 and right.json()["status"] == "verified"
    verification = Verification.objects.get(pk=verification_id)
    assert verification.attempts == 2
    assert ConsentEcho.objects.get().matches is True
    methods_paths = [(method, path) for method, path, _ in fake.requests]
    assert methods_paths == [("POST", "/GDPR_MSG/")] + [("POST", "/GDPR_VERIF/")] * 2


def test_errors_on_demand_are_retried_until_the_fake_answers(api, dqe_settings):
    fake = dqe_settings
    fake.fail_next.extend(["08", 500, "garbage"])

    created = api.start(PHONE, consents=CONSENTS)

    verification = Verification.objects.get(pk=created.json()["id"])
    assert verification.status == "delivered" and verification.sends_done == 1
    assert len(fake.requests) == 4
    assert len(verification.events.all()) == 1  # the timeline holds the send that succeeded


def test_an_unknown_licence_ends_in_provider_auth(api, dqe_settings):
    dqe_settings.licence = "ANOTHER"

    created = api.start(PHONE, consents=CONSENTS)

    verification = Verification.objects.get(pk=created.json()["id"])
    assert (verification.status, verification.reason) == ("failed", "provider_auth")
    assert len(dqe_settings.requests) == 1


def test_the_example_project_with_dqe_against_the_fake(tmp_path, fake_dqe):
    fake, dqe_url = fake_dqe
    env = example_project(
        tmp_path,
        PHONE_VERIFY_PROVIDER="dqe",
        DQE_URL=dqe_url,
        DQE_LICENCE="LIC-FAKE",
        DQE_COMPANY="MYSHOP",
    )
    server, url = start_server(env)
    api = f"{url}/api/phone-verify/verifications/"
    try:
        created = requests.post(api, json={"phone_number": PHONE, "consents": CONSENTS})
        assert created.status_code == 201, created.text
        verification_id = created.json()["id"]
        pin = fake.pin_for("33612345678")
        checked = requests.post(f"{api}{verification_id}/check/", json={"code": pin})
        assert checked.status_code == 200, checked.text
        assert checked.json()["status"] == "verified"
        assert requests.get(f"{api}{verification_id}/").json()["status"] == "verified"
    finally:
        server.stop()

    (_, _, msg), (_, _, verif) = fake.requests
    assert msg["Licence"] == "LIC-FAKE" and msg["Company"] == "MYSHOP"
    flags = {name: msg[name] for name in ("Sms", "Email", "Phonecom", "Post")}
    assert flags == {"Sms": "1", "Email": "1", "Phonecom": "0", "Post": "0"}
    assert (msg["SMS2"], msg["PHONE3"], msg["POST5"], msg["EMAIL2"]) == ("1", "1", "1", "0")
    assert verif == {"Phone": "33612345678", "Token": next(iter(fake.sms)), "Pin": pin}


def start_project(tmp_path, dqe_url):
    port = free_port()
    env = example_project(
        tmp_path,
        DQE_URL=dqe_url,
        DQE_LICENCE="LIC-FAKE",
        DQE_COMPANY="MYSHOP",
        DQE_CLIENT_SECRET="TEST-SECRET",
        PHONE_VERIFY_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    return start_server(env, port=port)


def wait_for_prefill(browser, url, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        answer = browser.get(url).json()
        if answer["status"] != "pending" or time.monotonic() > deadline:
            return answer
        time.sleep(0.3)


def test_the_example_project_prefills_from_the_fake_operator(tmp_path, fake_dqe):
    fake, dqe_url = fake_dqe
    fake.client_secret = "TEST-SECRET"
    server, url = start_project(tmp_path, dqe_url)
    browser = requests.Session()  # one browser: its session cookie goes along
    try:
        started = browser.post(f"{url}/api/phone-verify/prefills/", json={"phone_number": PHONE})
        assert started.status_code == 202, started.text
        prefill = started.json()
        assert prefill["status"] == "pending"
        assert prefill["redirect_url"].startswith(f"{dqe_url}/operator/")
        # The operator's page sends the browser back through our return view, then home.
        back = browser.get(prefill["redirect_url"])
        assert back.status_code == 200 and back.url == f"{url}/"
        answer = wait_for_prefill(browser, f"{url}/api/phone-verify/prefills/{prefill['id']}/")
        stranger = requests.get(f"{url}/api/phone-verify/prefills/{prefill['id']}/")
    finally:
        server.stop()

    assert answer["status"] == "success", answer
    seed = json.loads((FIXTURES / "idmobile_success.json").read_text())["formfilling"]
    assert answer["data"] == seed
    assert stranger.status_code == 404 and "data" not in stranger.json()
    retrievals = [params for _, path, params in fake.requests if path == "/GET/"]
    assert len(retrievals) == fake.pending_polls + 1  # pending, pending, success: no more


def test_an_expired_token_ends_the_prefill_in_a_clear_error(tmp_path, fake_dqe):
    fake, dqe_url = fake_dqe
    fake.client_secret, fake.token_ttl, fake.pending_polls = "TEST-SECRET", 3, 1000
    server, url = start_project(tmp_path, dqe_url)
    browser = requests.Session()
    try:
        prefill = browser.post(
            f"{url}/api/phone-verify/prefills/", json={"phone_number": PHONE}
        ).json()
        browser.get(prefill["redirect_url"])
        answer = wait_for_prefill(browser, f"{url}/api/phone-verify/prefills/{prefill['id']}/")
    finally:
        server.stop()

    assert (answer["status"], answer["code"]) == ("error", "token_expired")
    assert answer["detail"]
