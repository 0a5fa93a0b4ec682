"""TeleSign SMS Verify against ``responses`` mocks: signatures, the exact requests, every status
code, code_state and error code as tables, both code modes, polling."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from django.core.checks import run_checks
from django.utils import timezone

from phone_verify import services
from phone_verify.models import DeliveryEvent, Verification
from phone_verify.providers.telesign import signature, string_to_sign, tsa_headers

URL = "https://rest-ww.telesign.test"
PHONE = "+33612345678"
CUSTOMER_ID = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
API_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PUBLIC = "https://shop.example.com"
REF = "2557312299CC1304904080F4BE17BFB4"


def answer(
    code: int = 290, state: str = "UNKNOWN", errors=(), at: str = "2026-11-22T10:00:00Z"
) -> dict:
    return {
        "reference_id": REF,
        "sub_resource": "sms",
        "errors": [{"code": c, "description": d} for c, d in errors],
        "status": {"code": code, "description": "text", "updated_on": at},
        "verify": {"code_state": state, "code_entered": ""},
    }


@pytest.fixture
def options():
    return {"URL": URL, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY, "SENDER_ID": "MyShop"}


@pytest.fixture
def telesign(use_provider, options):
    extra = {"PUBLIC_URL": PUBLIC, "SEND_MAX_RETRIES": 2, "POLL_MAX": 0}
    with use_provider("telesign", options, **extra), responses.RequestsMock() as mock:
        yield mock


def start(api, **wsgi):
    response = api.post(
        "verifications/", {"phone_number": PHONE, "consents": {"sms": True}}, **wsgi
    )
    assert response.status_code == 201, response.json()
    return Verification.objects.get(pk=response.json()["id"])


def form_of(call) -> dict:
    return dict(parse_qsl(call.request.body))


# --- signatures -----------------------------------------------------------------------------

SDK_KEY = "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="
SDK_DATE = "Wed, 14 Dec 2016 18:20:12 GMT"
SDK_NONCE = "A1592C6F-E384-4CDB-BC42-C3AB970369E9"


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("method", "content_type", "body", "expected"),
    [
        ("POST", FORM, "test=param", "2xVlmbrxLjYrrPun3G3WMNG6Jon4yKcTeOoK9DjXJ/Q="),
        ("POST", FORM, "test=%CF%BF", "h8d4I0RTxErbxYXuzCOtNqb/f0w3Ck8e5SEkGNj01+8="),
        ("GET", "", "", "aUm7I+9GKl3ww7PNeeJntCT0iS7b+EmRKEE4LnRzChQ="),
    ],
)
def test_signatures_match_telesigns_published_examples(method, content_type, body, expected):
    """The vectors of TeleSign's own SDK tests (python_telesign, test_rest.py), Date variant."""
    to_sign = string_to_sign(
        method, "/v1/resource", content_type=content_type, body=body, nonce=SDK_NONCE, date=SDK_DATE
    )
    assert signature(SDK_KEY, to_sign) == expected


def test_the_date_variant_is_pinned():
    headers = tsa_headers(
        CUSTOMER_ID,
        API_KEY,
        "POST",
        "/v1/verify/sms",
        content_type=FORM,
        body="phone_number=33612345678&ucid=BACF",
        nonce=SDK_NONCE,
        date=SDK_DATE,
    )
    to_sign = (
        f"POST\n{FORM}\n{SDK_DATE}\nx-ts-auth-method:HMAC-SHA256\n"
        f"x-ts-nonce:{SDK_NONCE}\nphone_number=33612345678&ucid=BACF\n/v1/verify/sms"
    )
    assert headers == {
        "Authorization": f"TSA {CUSTOMER_ID}:{sdk_signature(API_KEY, to_sign)}",
        "Date": SDK_DATE,
        "x-ts-auth-method": "HMAC-SHA256",
        "x-ts-nonce": SDK_NONCE,
        "Content-Type": FORM,
    }


def sdk_signature(api_key: str, to_sign: str) -> str:
    """The HMAC step of the reference below, spelled out here rather than imported."""
    digest = hmac.new(base64.b64decode(api_key), to_sign.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode("utf-8")


def sdk_authorization(request, customer_id: str = CUSTOMER_ID, api_key: str = API_KEY) -> str:
    """A reference implementation of the official SDKs' TSA algorithm (python_telesign
    ``RestClient.generate_telesign_headers``, Node ``telesignsdk``), written from them and
    applied to a request as sent: its method, Content-Type (none for GET), Date, nonce, body and
    resource (the path, without the query string)."""
    content_type = request.headers.get("Content-Type", "")
    body = request.body or ""
    body = body.decode() if isinstance(body, bytes) else body
    to_sign = (
        f"{request.method}\n{content_type}\n{request.headers['Date']}"
        f"\nx-ts-auth-method:HMAC-SHA256\nx-ts-nonce:{request.headers['x-ts-nonce']}"
        + (f"\n{body}" if content_type and body else "")
        + f"\n{urlsplit(request.url).path}"
    )
    return f"TSA {customer_id}:{sdk_signature(api_key, to_sign)}"


def official_sdk_authorization(request) -> str:
    """The same, computed by TeleSign's own Python SDK (``telesign`` on PyPI): the oracle."""
    from telesign.rest import RestClient

    body = request.body or ""
    return RestClient.generate_telesign_headers(
        CUSTOMER_ID,
        API_KEY,
        request.method,
        urlsplit(request.url).path,
        body.decode() if isinstance(body, bytes) else body,
        date_rfc2616=request.headers["Date"],
        nonce=request.headers["x-ts-nonce"],
    )["Authorization"]


def test_every_request_is_signed_as_the_official_sdks_sign(api, telesign, options, use_provider):
    """Send (POST with a form), poll (GET), completion (PUT, no body): each Authorization
    equals the SDK algorithm's over the Date header the request carries."""
    options["CODE_MODE"] = "local"
    telesign.post(f"{URL}/v1/verify/sms", json=answer(290))
    telesign.get(f"{URL}/v1/verify/{REF}", json=answer(290))
    telesign.put(f"{URL}/v1/verify/completion/{REF}", json=answer(1900))
    verification = start(api)
    with use_provider("telesign", options, PUBLIC_URL=PUBLIC, POLL_MAX=1):
        services.poll_delivery(verification.pk)
    code = form_of(telesign.calls[0])["verify_code"]
    assert api.check(verification.pk, code).json()["status"] == "verified"

    requests_made = [call.request for call in telesign.calls]
    assert [r.method for r in requests_made] == ["POST", "GET", "PUT"]
    for request in requests_made:
        assert request.headers["Authorization"] == sdk_authorization(request)
        assert request.headers["Authorization"] == official_sdk_authorization(request)
        assert email.utils.parsedate_to_datetime(request.headers["Date"]).tzinfo is not None
        assert "x-ts-date" not in request.headers
    assert requests_made[0].headers["Content-Type"] == FORM
    assert "Content-Type" not in requests_made[1].headers


# --- send -----------------------------------------------------------------------------------


def test_the_send_request_signed_with_tsa(api, telesign):
    telesign.post(f"{URL}/v1/verify/sms", json=answer(290))

    verification = start(api, REMOTE_ADDR="203.0.113.7")

    (call,) = telesign.calls
    request = call.request
    assert request.method == "POST" and request.url == f"{URL}/v1/verify/sms"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form_of(call) == {
        "phone_number": "33612345678",
        "ucid": "BACF",
        "language": "en",  # the request's language: TeleSign's template in it
        "sender_id": "MyShop",
        "originating_ip": "203.0.113.7",
        "callback_url": f"{PUBLIC}/api/phone-verify/webhooks/telesign/",
    }
    expected = tsa_headers(
        CUSTOMER_ID,
        API_KEY,
        "POST",
        "/v1/verify/sms",
        content_type="application/x-www-form-urlencoded",
        body=request.body,
        nonce=request.headers["x-ts-nonce"],
        date=request.headers["Date"],
    )
    assert {k: request.headers[k] for k in expected} == expected
    assert API_KEY not in str(request.headers)  # the key never travels with TSA
    assert (verification.status, verification.provider_reference) == ("pending", REF)
    assert verification.code_hash == ""  # TeleSign made the code


def test_basic_auth_and_a_template(api, telesign, options):
    options.update(AUTH="basic", TEMPLATE="MyShop code: $$CODE$$")
    telesign.post(f"{URL}/v1/verify/sms", json=answer(290))

    start(api)

    request = telesign.calls[0].request
    token = base64.b64encode(f"{CUSTOMER_ID}:{API_KEY}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {token}"
    form = form_of(telesign.calls[0])
    assert form["template"] == "MyShop code: $$CODE$$" and "language" not in form


# Every status code of PROVIDERS.md: (verification status after a send answer, reason, calls).
UNDELIVERABLE = (207, 210, 211, 220, 222, 507, 510, 511, 512, 513, 514)
REJECTED = (229, 230, 231, 233, 237, 238, 502, 504, 506, 508, 509, 515, 517, 518, 519, 520, 521)
SEND_STATUS = {
    290: ("pending", "", 1),
    **{c: ("sent", "", 1) for c in (203, 292, 295, 250, 251)},
    200: ("delivered", "", 1),
    201: ("delivered", "", 1),
    221: ("expired", "message_expired", 1),  # the message expired undelivered, not the code
    **{c: ("undeliverable", "undeliverable", 1) for c in UNDELIVERABLE},
    222: ("undeliverable", "not_mobile", 1),  # refusals of the number say so
    507: ("undeliverable", "invalid_phone_number", 1),
    **{c: ("rejected", "rejected", 1) for c in REJECTED},
    503: ("failed", "provider_unavailable", 3),  # temporary: retried, then given up
    505: ("failed", "provider_unavailable", 3),
    500: ("failed", "provider_error", 1),
    501: ("failed", "provider_error", 1),
    599: ("pending", "", 1),  # no change
}


@pytest.mark.parametrize("code", sorted(SEND_STATUS))
def test_every_status_code_on_a_send_answer(api, telesign, code):
    telesign.post(f"{URL}/v1/verify/sms", json=answer(code))

    verification = start(api)

    status, reason, calls = SEND_STATUS[code]
    assert len(telesign.calls) == calls
    assert (verification.status, verification.reason) == (status, reason)


# Every error code: (status, reason, calls) on a send.
ERRORS = {
    (-10001, "Invalid value for parameter phone_number."): ("rejected", "invalid_phone_number", 1),
    (-10001, "Invalid value for parameter ucid."): ("failed", "provider_config", 1),
    (-10033, "Number not verified on trial account."): ("rejected", "number_not_allowed", 1),
    (-10009, "Source IP not allowed."): ("failed", "provider_auth", 1),
    (-10030, "Insufficient funds."): ("failed", "provider_account", 1),
    (-20002, "Product not enabled."): ("failed", "provider_config", 1),
    (-40006, "Bad request."): ("failed", "provider_config", 1),
    (-40007, "Rate limit exceeded."): ("failed", "provider_unavailable", 3),
    (-40008, "Hard cap reached."): ("failed", "provider_quota", 1),
    (-90001, "System unavailable."): ("failed", "provider_unavailable", 3),
    **{
        (code, "auth"): ("failed", "provider_auth", 1)
        for code in (-30000, -30001, -30002, -30004, -30005, -30006, -30007, -30008)
    },
    **{
        (code, "auth"): ("failed", "provider_auth", 1)
        for code in (-30009, -30010, -30011, -30012, -30015)
    },
    (-99999, "Undocumented."): ("failed", "provider_error", 1),
}


@pytest.mark.parametrize("error", list(ERRORS), ids=[f"{c}-{d[:12]}" for c, d in ERRORS])
def test_every_error_code_on_a_send(api, telesign, error):
    # HTTP 400 or 401 as TeleSign answers them; the outcome is read off errors[], not HTTP.
    http = 401 if -30015 <= error[0] <= -30000 else 400
    telesign.post(f"{URL}/v1/verify/sms", json=answer(500, errors=[error]), status=http)

    verification = start(api)

    status, reason, calls = ERRORS[error]
    assert len(telesign.calls) == calls
    assert (verification.status, verification.reason) == (status, reason)


@pytest.mark.parametrize(
    ("http", "body", "status", "reason"),
    [
        (400, answer(290), "pending", ""),  # an odd HTTP 4xx with a good answer
        (200, answer(500, errors=[(-20002, "Product not enabled.")]), "failed", "provider_config"),
    ],
)
def test_the_http_status_does_not_decide(api, telesign, http, body, status, reason):
    telesign.post(f"{URL}/v1/verify/sms", json=body, status=http)

    verification = start(api)

    assert (verification.status, verification.reason) == (status, reason)


# --- check (TeleSign's code) ----------------------------------------------------------------


@pytest.fixture
def sent(api, telesign):
    telesign.post(f"{URL}/v1/verify/sms", json=answer(290))
    verification = start(api)
    telesign.calls.reset()
    return verification


def test_the_check_request(api, telesign, sent):
    telesign.get(f"{URL}/v1/verify/{REF}", json=answer(200, "VALID"))

    response = api.check(sent.pk, "1234567")

    assert response.json()["status"] == "verified"
    request = telesign.calls[0].request
    assert request.method == "GET"
    assert urlsplit(request.url).query == "verify_code=1234567"
    assert "Content-Type" not in request.headers
    expected = tsa_headers(
        CUSTOMER_ID,
        API_KEY,
        "GET",
        f"/v1/verify/{REF}",
        content_type="",
        body="",
        nonce=request.headers["x-ts-nonce"],
        date=request.headers["Date"],
    )
    assert request.headers["Authorization"] == expected["Authorization"]


CODE_STATES = {
    "VALID": (200, None, "verified", 1),
    "INVALID": (400, "invalid_code", "pending", 1),
    "EXPIRED": (400, "expired", "expired", 1),
    "MAX_ATTEMPTS_EXCEEDED": (429, "too_many_attempts", "failed", 1),  # as our own lockout
    "UNKNOWN": (503, "provider_unavailable", "pending", 0),
}


@pytest.mark.parametrize("state", list(CODE_STATES))
def test_every_code_state(api, telesign, sent, state):
    telesign.get(f"{URL}/v1/verify/{REF}", json=answer(200, state))

    response = api.check(sent.pk, "1234567")

    http, code, status, attempts = CODE_STATES[state]
    assert (response.status_code, response.json().get("code")) == (http, code)
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == (status, attempts)


@pytest.mark.parametrize(
    ("error", "http", "code", "status"),
    [
        (-10004, 400, "expired", "expired"),  # the reference expired
        (-10001, 400, "verification_failed", "failed"),
        (-30006, 400, "verification_failed", "failed"),
        (-40007, 503, "provider_unavailable", "pending"),
        (-90001, 503, "provider_unavailable", "pending"),
    ],
)
def test_errors_on_a_check(api, telesign, sent, error, http, code, status):
    body = answer(599, errors=[(error, "x")])
    telesign.get(f"{URL}/v1/verify/{REF}", json=body, status=404 if error == -10004 else 400)

    response = api.check(sent.pk, "1234567")

    assert (response.status_code, response.json().get("code")) == (http, code)
    sent.refresh_from_db()
    assert sent.status == status


def test_codes_of_another_shape_never_reach_telesign(api, telesign, sent):
    for code in ("12", "12345678", "12a4567"):
        assert api.check(sent.pk, code).json()["code"] == "invalid_code_format"
    assert len(telesign.calls) == 0


# --- local code mode ------------------------------------------------------------------------


def test_local_mode_sends_our_code_checks_it_here_and_reports_completion(
    api, telesign, options, outbox
):
    options["CODE_MODE"] = "local"
    telesign.post(f"{URL}/v1/verify/sms", json=answer(290))
    telesign.put(f"{URL}/v1/verify/completion/{REF}", json=answer(1900))
    verification = start(api)
    code = form_of(telesign.calls[0])["verify_code"]
    assert len(code) == 6 and verification.code_hash  # ours, kept as a hash only

    wrong = api.check(verification.pk, f"{(int(code) + 1) % 10**6:06d}")
    right = api.check(verification.pk, code)

    assert wrong.json()["code"] == "invalid_code"
    assert right.json()["status"] == "verified"
    methods = [call.request.method for call in telesign.calls]
    assert methods == ["POST", "PUT"]  # no GET: the check was local
    put = telesign.calls[1].request
    assert put.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert put.headers["Authorization"].startswith(f"TSA {CUSTOMER_ID}:")


def test_a_refused_completion_is_logged_and_the_verification_stays_verified(
    api, telesign, options, caplog
):
    options["CODE_MODE"] = "local"
    telesign.post(f"{URL}/v1/verify/sms", json=answer(290))
    telesign.put(f"{URL}/v1/verify/completion/{REF}", json=answer(500, errors=[(-30013, "x")]))
    verification = start(api)
    code = form_of(telesign.calls[0])["verify_code"]

    assert api.check(verification.pk, code).json()["status"] == "verified"

    assert "completion of verification" in caplog.text and "unknown_reference" in caplog.text
    verification.refresh_from_db()
    assert verification.status == "verified"


# --- polling --------------------------------------------------------------------------------


POLL_STATUS = {
    290: "pending",
    **{c: "sent" for c in (203, 292, 295, 250, 251)},
    200: "delivered",
    201: "delivered",
    221: "expired",
    **{c: "undeliverable" for c in UNDELIVERABLE},
    **{c: "rejected" for c in (*REJECTED, 503, 505)},
    500: "failed",
    501: "failed",
    599: "pending",
}


@pytest.fixture
def polling(use_provider, options, sent):
    with use_provider("telesign", options, PUBLIC_URL=PUBLIC, POLL_MAX=3):
        yield sent


@pytest.mark.parametrize("code", sorted(POLL_STATUS))
def test_every_status_code_on_a_poll(polling, telesign, code):
    telesign.get(f"{URL}/v1/verify/{REF}", json=answer(code, at="2026-11-22T10:00:05Z"))

    again = services.poll_delivery(polling.pk)

    polling.refresh_from_db()
    assert polling.status == POLL_STATUS[code]
    assert again is (POLL_STATUS[code] in ("pending", "sent"))
    event = DeliveryEvent.objects.get(verification=polling, kind="poll")
    assert (event.provider_status, event.applied) == (str(code), code not in (290, 599))


def test_a_poll_follows_the_send_and_stops_at_a_final_state(api, use_provider, options):
    with (
        use_provider("telesign", options, POLL_MAX=5, PUBLIC_URL=PUBLIC),
        responses.RequestsMock() as mock,
    ):
        mock.post(f"{URL}/v1/verify/sms", json=answer(290))
        mock.get(f"{URL}/v1/verify/{REF}", json=answer(203))
        verification = start(api)

        assert [c.request.method for c in mock.calls] == ["POST", "GET"]  # eager: one poll
        assert verification.status == "sent"
        mock.get(f"{URL}/v1/verify/{REF}", json=answer(200, at="2026-11-22T10:00:09Z"))
        assert services.poll_delivery(verification.pk) is False  # delivered: settled
        assert services.poll_delivery(verification.pk) is False
        assert len(mock.calls) == 3  # no poll once delivered
        verification.refresh_from_db()
        assert verification.status == "delivered"


def test_polls_are_bounded_by_poll_max_and_the_code_lifetime(polling, telesign):
    telesign.get(f"{URL}/v1/verify/{REF}", json=answer(290))

    results = [services.poll_delivery(polling.pk) for _ in range(5)]

    assert results == [True, True, False, False, False]  # POLL_MAX=3
    assert len(telesign.calls) == 3
    Verification.objects.filter(pk=polling.pk).update(polls=0, expires_at=polling.created_at)
    assert services.poll_delivery(polling.pk) is False and len(telesign.calls) == 3


def test_a_failed_poll_counts_and_changes_nothing(polling, telesign):
    telesign.get(f"{URL}/v1/verify/{REF}", json={}, status=503)

    assert services.poll_delivery(polling.pk) is True
    polling.refresh_from_db()
    assert (polling.status, polling.polls, polling.poll_lease_until) == ("pending", 1, None)


def test_no_poll_while_another_is_in_flight(polling, telesign):
    telesign.get(f"{URL}/v1/verify/{REF}", json=answer(200))
    lease = timezone.now() + dt.timedelta(seconds=30)
    Verification.objects.filter(pk=polling.pk).update(poll_lease_until=lease)

    assert services.poll_delivery(polling.pk) is False
    assert len(telesign.calls) == 0
    Verification.objects.filter(pk=polling.pk).update(poll_lease_until=timezone.now())
    services.poll_delivery(polling.pk)
    assert len(telesign.calls) == 1  # an expired lease (a crashed poll) does not block


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "phone_verify", "error_id", "words"),
    [
        ({"API_KEY": ""}, {}, "phone_verify.E101", "['API_KEY'] must be set"),
        ({"API_KEY": "not base64!"}, {}, "phone_verify.E301", "base64"),
        ({"TEMPLATE": "Your code"}, {}, "phone_verify.E302", "$$CODE$$"),
        ({"TEMPLATE": "x" * 160 + "$$CODE$$"}, {}, "phone_verify.E302", "167 of 160"),
        ({"AUTH": "digest"}, {}, "phone_verify.E303", "tsa, basic"),
        ({"CODE_MODE": "mine"}, {}, "phone_verify.E303", "telesign, local"),
        ({"CODE_MODE": "local"}, {"CODE_LENGTH": 8}, "phone_verify.E304", "from 3 to 7"),
        ({"UCID": "SIGNUP"}, {}, "phone_verify.E305", "BACF"),
        ({"SENDER_ID": "x" * 21}, {}, "phone_verify.E306", "at most 20"),
    ],
)
def test_system_checks(use_provider, options, phone_verify, error_id, words):
    base = {"URL": URL, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY}
    with use_provider("telesign", {**base, **options}, **phone_verify):
        messages = [m for m in run_checks() if m.id.startswith("phone_verify")]
    assert [m.id for m in messages] == [error_id], [m.msg for m in messages]
    assert words in messages[0].msg
