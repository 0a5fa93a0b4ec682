"""TeleSign over real HTTP: the example project, started as a user would start it with
``PHONE_VERIFY_PROVIDER=telesign``, against the fake TeleSign server; in both code modes, with a
signed callback, and with a real Celery worker polling the delivery status."""

from __future__ import annotations

import time

import pytest
import requests

from .fake_server import running
from .fake_telesign import API_KEY, CUSTOMER_ID, FakeTeleSign
from .processes import (
    example_project,
    free_port,
    redis_url,
    require_redis,
    start_server,
    start_worker,
)

PHONE = "+33612345678"
API = "/api/phone-verify/verifications/"


@pytest.fixture
def fake_telesign():
    fake = FakeTeleSign()
    with running(fake) as url:
        yield fake, url


def project_env(tmp_path, telesign_url: str, port: int, **extra: str) -> dict[str, str]:
    return example_project(
        tmp_path,
        PHONE_VERIFY_PROVIDER="telesign",
        TELESIGN_URL=telesign_url,
        TELESIGN_CUSTOMER_ID=CUSTOMER_ID,
        TELESIGN_API_KEY=API_KEY,
        PHONE_VERIFY_PUBLIC_URL=f"http://127.0.0.1:{port}",
        **extra,
    )


def start(api: str) -> str:
    created = requests.post(api, json={"phone_number": PHONE, "consents": {"sms": True}})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def check(api: str, verification_id: str, code: str) -> requests.Response:
    return requests.post(f"{api}{verification_id}/check/", json={"code": code})


@pytest.mark.parametrize(("mode", "auth"), [("telesign", "tsa"), ("local", "basic")])
def test_the_example_project_with_telesign_and_a_signed_callback(
    tmp_path, fake_telesign, mode, auth
):
    fake, telesign_url = fake_telesign
    port = free_port()
    env = project_env(tmp_path, telesign_url, port, TELESIGN_CODE_MODE=mode, TELESIGN_AUTH=auth)
    server, url = start_server(env, port=port)
    api = url + API
    try:
        verification_id = start(api)
        sms = fake.latest()
        assert requests.get(f"{api}{verification_id}/").json()["status"] == "pending"
        assert fake.deliver(sms.reference_id, 200).json() == {"received": 1, "matched": 1}
        assert requests.get(f"{api}{verification_id}/").json()["status"] == "delivered"
        wrong = check(api, verification_id, str(int(sms.code) + 1).zfill(len(sms.code)))
        right = check(api, verification_id, sms.code)
    finally:
        server.stop()

    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_code"
    assert right.status_code == 200 and right.json()["status"] == "verified"
    assert sms.callback_url == f"{url}/api/phone-verify/webhooks/telesign/"
    assert ("verify_code" in sms.form) is (mode == "local")
    assert sms.completed is (mode == "local")  # PUT completion only for our own codes
    methods = [request.method for request in fake.requests]
    # one poll right after the send (eager tasks), then the checks go to TeleSign or not
    checks = ["GET"] * 2 if mode == "telesign" else ["PUT"]
    assert methods == ["POST", "GET", *checks]


@pytest.mark.services
def test_a_real_worker_polls_until_delivered(tmp_path, fake_telesign):
    require_redis()
    fake, telesign_url = fake_telesign
    fake.polls_before_delivery = 1  # the first poll says 290, the second 200
    port = free_port()
    env = project_env(tmp_path, telesign_url, port, CELERY_BROKER_URL=redis_url())
    worker = start_worker(env)
    server = None
    try:
        server, url = start_server(env, port=port)
        api = url + API
        verification_id = start(api)
        deadline = time.monotonic() + 30
        status = "pending"
        while status != "delivered" and time.monotonic() < deadline:
            time.sleep(0.2)
            status = requests.get(f"{api}{verification_id}/").json()["status"]
        assert status == "delivered", "".join(worker.output)
        verified = check(api, verification_id, fake.latest().code)
        assert verified.json()["status"] == "verified"
    finally:
        if server:
            server.stop()
        worker.stop()
    polls = [r for r in fake.requests if r.method == "GET" and "verify_code" not in r.query]
    assert len(polls) == 2  # 290, then 200: no poll once delivered
