"""Fortytwo over real HTTP: the provider against the fake Fortytwo server on 127.0.0.1, with its
delivery reports posted back to our webhook; in a live test server, and from the example
project started as a user would (``PHONE_VERIFY_PROVIDER=fortytwo``)."""

from __future__ import annotations

import pytest
import requests

from phone_verify.models import DeliveryEvent, Verification

from .fake_fortytwo import FakeFortytwo
from .fake_server import running
from .processes import example_project, free_port, start_server

PHONE = "+33612345678"
SECRET = "fortytwo-callback-secret-abcdef"
API = "/api/phone-verify/verifications/"


@pytest.fixture
def fake_fortytwo():
    fake = FakeFortytwo(token="TOKEN-FAKE")
    with running(fake) as url:
        yield fake, url


@pytest.fixture
def live(live_server, use_provider, fake_fortytwo):
    """A live server whose provider is Fortytwo (the fake), its callbacks coming back to it."""
    fake, url = fake_fortytwo
    with use_provider(
        "fortytwo",
        {"URL": url, "TOKEN": "TOKEN-FAKE"},
        WEBHOOK_SECRETS=[SECRET],
        PUBLIC_URL=live_server.url,
        SEND_MAX_RETRIES=2,
        HTTP_TIMEOUT=(1, 0.5),
    ):
        yield fake, live_server.url + API


def start(api_url):
    created = requests.post(api_url, json={"phone_number": PHONE, "consents": {"sms": True}})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_send_callback_check_through_the_fake_server(live):
    fake, api = live
    verification_id = start(api)

    delivered = fake.deliver(verification_id, "DELIVRD")
    status = requests.get(f"{api}{verification_id}/").json()["status"]
    code = fake.code_for(verification_id)
    wrong_code = f"{(int(code) + 1) % 10**6:06d}"
    wrong = requests.post(f"{api}{verification_id}/check/", json={"code": wrong_code})
    right = requests.post(f"{api}{verification_id}/check/", json={"code": code})

    assert delivered.status_code == 200 and delivered.json()["matched"] == 1
    assert status == "delivered"
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_code"
    assert right.status_code == 200 and right.json()["status"] == "verified"


def test_a_send_retried_after_a_timeout_texts_one_code(live):
    fake, api = live
    fake.slow_next.append(1.5)  # handled, then answered after our 0.5 s read timeout

    verification_id = start(api)

    assert fake.sms_sent == 1
    assert [body["client_ref"] for _, _, _, body in fake.requests] == [verification_id] * 2
    verification = Verification.objects.get(pk=verification_id)
    assert (verification.status, verification.sends_done) == ("pending", 1)
    events = DeliveryEvent.objects.filter(verification=verification)
    assert [e.provider_status for e in events] == ["-52"]  # "already exists": our first try
    code = fake.code_for(verification_id)
    checked = requests.post(f"{api}{verification_id}/check/", json={"code": code})
    assert checked.json()["status"] == "verified"


def test_an_expired_code_at_fortytwo_ends_expired(live):
    fake, api = live
    verification_id = start(api)
    fake.expire(verification_id)

    checked = requests.post(
        f"{api}{verification_id}/check/", json={"code": fake.code_for(verification_id)}
    )

    assert (checked.status_code, checked.json()["code"]) == (400, "expired")


def test_the_example_project_with_fortytwo_against_the_fake(tmp_path, fake_fortytwo):
    fake, fortytwo_url = fake_fortytwo
    port = free_port()
    env = example_project(
        tmp_path,
        PHONE_VERIFY_PROVIDER="fortytwo",
        FORTYTWO_URL=fortytwo_url,
        FORTYTWO_TOKEN="TOKEN-FAKE",
        PHONE_VERIFY_WEBHOOK_SECRET=SECRET,
        PHONE_VERIFY_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    server, url = start_server(env, port=port)
    api = url + API
    try:
        verification_id = start(api)
        assert requests.get(f"{api}{verification_id}/").json()["status"] == "pending"
        delivered = fake.deliver(verification_id, "DELIVRD")
        assert delivered.status_code == 200, delivered.text
        assert requests.get(f"{api}{verification_id}/").json()["status"] == "delivered"
        code = fake.code_for(verification_id)
        checked = requests.post(f"{api}{verification_id}/check/", json={"code": code})
        assert checked.status_code == 200, checked.text
        assert checked.json()["status"] == "verified"
    finally:
        server.stop()
    (_, path, headers, body), (_, check_path, _, _) = fake.requests
    assert path == "/1/2fa" and headers["Authorization"] == "Token TOKEN-FAKE"
    host = url.removeprefix("http://")
    assert (
        body["callback_url"]
        == f"http://phone_verify:{SECRET}@{host}/api/phone-verify/webhooks/fortytwo/"
        f"?client_ref={verification_id}"
    )
    # The callback went through (delivered) and no log line of the server, its access log
    # included, holds the secret.
    assert "webhooks/fortytwo/" in "".join(server.output)
    assert SECRET not in "".join(server.output)
    assert check_path == f"/1/2fa/{verification_id}/{code}"
