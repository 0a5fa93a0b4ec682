"""Property-based fuzzing (hypothesis): whatever JSON a client or a provider sends, the app ends
in a clean answer or one of its own errors (``PhoneVerifyError``), never an unexpected exception.

Generated documents mix the keys each provider documents with random ones, and random values
of every JSON type, so the parsers meet both plausible and absurd answers.
"""

from __future__ import annotations

import base64
import json
import re
import uuid

import pytest
import responses
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phone_verify.exceptions import PhoneVerifyError
from phone_verify.providers.base import InboundCallback, OutgoingCode
from phone_verify.providers.registry import get_provider
from phone_verify.providers.telesign import signature

from .test_telesign import API_KEY, CUSTOMER_ID

URL = "https://provider.example.test"
PUBLIC = "https://shop.example.com"
SECRET = "fuzz-callback-secret-0123456789"

KEYS = [
    # DQE
    "status", "errors", "smsToken", "timeout", "channels", "dateTime", "result", "Licence",
    # Fortytwo
    "result_info", "status_code", "description", "message_id", "data", "client_message_id",
    "timestamp", "micro_timestamp", "error_code", "api_job_id",
    # TeleSign
    "reference_id", "code", "updated_on", "verify", "code_state", "additional_info", "price",
    "submit_timestamp", "sub_resource",
    # DQE ID Mobile
    "access_token", "expires_in", "url", "operator", "formfilling", "error", "error_id",
    "error_type", "token",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["PENDING", "DELIVRD", "VALID", "success", "pending", "0", "-53", "290"])
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=20,
)
bodies = documents.map(json.dumps) | st.text(max_size=60)  # and bodies that are not JSON
statuses = st.sampled_from([200, 201, 400, 401, 404, 422, 429, 500, 503])

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

OPTIONS = {
    "dqe": {"URL": URL, "LICENCE": "L", "COMPANY": "MyShop", "CLIENT_SECRET": "s"},
    "fortytwo": {"URL": URL, "TOKEN": "t"},
    "telesign": {"URL": URL, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY},
}


def provider_settings(name: str) -> override_settings:
    return override_settings(
        PHONE_VERIFY={
            "PROVIDER": name,
            "PROVIDER_OPTIONS": OPTIONS,
            "PUBLIC_URL": PUBLIC,
            "WEBHOOK_SECRETS": [SECRET],
        }
    )


def answering(
    status: int, body: str, token: tuple[int, str] | None = None
) -> responses.RequestsMock:
    """Every request answered ``status`` / ``body``; DQE's token route ``token`` if given."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    if token is not None:
        mock.add("POST", re.compile(".*/ACCESS_TOKEN/"), body=token[1], status=token[0])
    for method in ("GET", "POST", "PUT"):
        mock.add(method, re.compile(".*"), body=body, status=status)
    return mock


MESSAGE = OutgoingCode(
    verification_id=uuid.uuid4(),
    phone_number="+33612345678",
    country="FRA",
    send_number=1,
    lifetime=300,
    code=None,
    consents={"sms": True},
)


def only_our_errors(call) -> None:
    try:
        call()
    except PhoneVerifyError:
        pass


@pytest.mark.parametrize("name", ["dqe", "fortytwo", "telesign"])
@FUZZ
@given(status=statuses, body=bodies)
def test_provider_answers_end_in_a_result_or_our_error(name, status, body):
    with provider_settings(name), answering(status, body):
        provider = get_provider(name)
        message = MESSAGE if provider.generates_code else _with_code(MESSAGE)
        only_our_errors(lambda: provider.send(message))
        if provider.generates_code:
            only_our_errors(lambda: provider.check("REF123", "+33612345678", "123456"))
        if provider.polls_status:
            only_our_errors(lambda: provider.poll("REF123"))
        if provider.reports_completion:
            only_our_errors(lambda: provider.report_completion("REF123"))


def _with_code(message: OutgoingCode) -> OutgoingCode:
    from dataclasses import replace

    return replace(message, code="123456")


@FUZZ
@given(status=statuses, body=bodies, token_status=statuses, token_body=bodies)
def test_identity_prefill_answers_end_in_a_result_or_our_error(
    status, body, token_status, token_body
):
    from phone_verify.providers.dqe_idmobile import IdMobile

    with provider_settings("dqe"), answering(status, body, (token_status, token_body)):
        client = IdMobile(OPTIONS["dqe"])
        client.forget_token()  # each example asks for its token afresh
        only_our_errors(lambda: client.request_consent("+33612345678", PUBLIC + "/back/"))
        only_our_errors(lambda: client.retrieve("session-token"))


@pytest.mark.parametrize("name", ["fortytwo", "telesign"])
@FUZZ
@given(body=bodies)
def test_callback_bodies_end_in_reports_or_malformed_callback(name, body):
    with provider_settings(name):
        callback = InboundCallback(
            secret=SECRET,
            headers={},
            remote_addr="127.0.0.1",
            method="POST",
            path="/",
            read_body=lambda: body.encode(),
        )
        only_our_errors(lambda: get_provider(name).parse_callback(callback))


@pytest.mark.django_db
@FUZZ
@given(body=bodies)
def test_authentic_callbacks_through_the_webhooks_never_answer_500(client, body):
    data = body.encode()
    with provider_settings("fortytwo"):
        fortytwo = client.post(
            "/api/phone-verify/webhooks/fortytwo/",
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"u:{SECRET}".encode()).decode(),
        )
    with provider_settings("telesign"):
        sig = signature(API_KEY, data)
        telesign = client.post(
            "/api/phone-verify/webhooks/telesign/",
            data,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"TSA {CUSTOMER_ID}:{sig}",
        )
    # An empty body goes without a Content-Type (Django's test client): 415.
    allowed = (200, 400) if data else (415,)
    assert fortytwo.status_code in allowed, fortytwo.content
    assert telesign.status_code in allowed, telesign.content


phones = st.text(max_size=20) | st.from_regex(r"\+?33 ?[1-9]( ?\d\d){4}", fullmatch=True)
start_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "phone_number": phones | documents,
            "country": st.sampled_from(["FRA", "GBR", "fr", "", "XYZ"]) | documents,
            "consents": st.dictionaries(
                st.sampled_from(["sms", "email", "phone", "post", "sms2", "post5", "fax"]),
                documents,
                max_size=5,
            )
            | documents,
        },
    )
    | documents
)


@pytest.mark.django_db
@FUZZ
@given(body=start_bodies, code=documents)
def test_the_api_answers_any_json_in_its_error_shape(api, body, code):
    started = api.post("verifications/", body)
    assert started.status_code in (201, 400, 429), started.content
    if started.status_code != 201:
        assert set(started.json()) >= {"code", "detail"}
        return
    checked = api.post(f"verifications/{started.json()['id']}/check/", {"code": code})
    assert checked.status_code in (200, 400, 429), checked.content
