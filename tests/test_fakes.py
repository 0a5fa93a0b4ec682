"""The fake providers are independent of the code under test: each computes signatures, codes
and answers with its own implementation of the provider's documented rules. A fake that
imported the app's signing code would accept whatever the app gets wrong."""

from __future__ import annotations

import ast
import base64
from pathlib import Path

import pytest
import requests
from telesign.rest import RestClient

from .fake_server import running
from .fake_telesign import API_KEY, CUSTOMER_ID, FakeTeleSign

FAKES = sorted(Path(__file__).parent.glob("fake_*.py"))


@pytest.mark.parametrize("fake", FAKES, ids=[path.stem for path in FAKES])
def test_no_fake_imports_the_app(fake):
    tree = ast.parse(fake.read_text())
    imported = [
        name
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    ]
    assert not [name for name in imported if name.split(".")[0] == "phone_verify"]


@pytest.fixture
def fake_telesign():
    fake = FakeTeleSign()
    with running(fake) as url:
        yield fake, url


def sdk_request(url: str, *, date: str | None = None, **overrides: str) -> requests.Response:
    """A send signed by TeleSign's official Python SDK, with some header replaced."""
    body = "phone_number=33612345678&ucid=BACF"
    headers = RestClient.generate_telesign_headers(
        CUSTOMER_ID, API_KEY, "POST", "/v1/verify/sms", body, date_rfc2616=date
    )
    headers.update(overrides)
    return requests.post(f"{url}/v1/verify/sms", data=body, headers=headers, timeout=10)


def test_the_fake_accepts_what_telesigns_sdk_signs(fake_telesign):
    fake, url = fake_telesign

    response = sdk_request(url)

    assert response.status_code == 200, response.json()
    assert response.json()["status"]["code"] == 290 and len(fake.sms) == 1


@pytest.mark.parametrize(
    ("tamper", "error"),
    [
        ({"x-ts-nonce": "another nonce"}, -30006),  # the nonce is signed
        ({"Date": "Thu, 01 Jan 2026 00:00:00 GMT"}, -30006),  # so is the Date
        ({"Content-Type": "application/json"}, -30006),
        ({"Authorization": f"TSA OTHER-CUSTOMER:{'A' * 44}"}, -30000),
        ({"Authorization": "Digest abc"}, -30005),
    ],
    ids=["nonce", "date", "content-type", "customer", "scheme"],
)
def test_the_fake_refuses_what_telesign_would(fake_telesign, tamper, error):
    fake, url = fake_telesign

    response = sdk_request(url, **tamper)

    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == error and not fake.sms


def test_the_fake_refuses_a_reused_nonce(fake_telesign):
    fake, url = fake_telesign
    body = "phone_number=33612345678&ucid=BACF"
    headers = RestClient.generate_telesign_headers(
        CUSTOMER_ID, API_KEY, "POST", "/v1/verify/sms", body, nonce="N-1"
    )
    assert requests.post(f"{url}/v1/verify/sms", data=body, headers=headers).status_code == 200
    again = requests.post(f"{url}/v1/verify/sms", data=body, headers=headers)
    assert again.status_code == 401 and again.json()["errors"][0]["code"] == -30012
    assert len(fake.sms) == 1


def test_the_fake_takes_basic_auth_with_the_right_key_only(fake_telesign):
    _, url = fake_telesign
    good = base64.b64encode(f"{CUSTOMER_ID}:{API_KEY}".encode()).decode()
    bad = base64.b64encode(f"{CUSTOMER_ID}:not-the-key".encode()).decode()
    form = {"phone_number": "33612345678"}

    assert requests.post(
        f"{url}/v1/verify/sms", data=form, headers={"Authorization": f"Basic {good}"}
    ).ok
    refused = requests.post(
        f"{url}/v1/verify/sms", data=form, headers={"Authorization": f"Basic {bad}"}
    )
    assert refused.status_code == 401
