"""The conformance table: every status and error code of the provider documents (the mapping
tables of PROVIDERS.md, section 5), each driven through the app as the provider would send it,
with what follows: the normalized state, the verification's reason, what a client's code check
answers next, how many times the send was tried, and whether the next code goes through the
fallback provider.

One row per documented value. ``test_every_documented_code_has_a_row`` counts them against the
table of PROVIDERS.md (a verbatim copy in tests/fixtures/provider_mapping.md).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import responses
from django.test import override_settings

from phone_verify.models import Verification
from phone_verify.status import Status

from .fake_telesign import hmac_sha256
from .test_dqe import msg_answer, verif_answer
from .test_fortytwo import HTTP_OF, REQUEST_OK, result
from .test_telesign import API_KEY, CUSTOMER_ID, REF, answer

DQE = "https://dqe.conformance.test"
FORTYTWO = "https://fortytwo.conformance.test"
TELESIGN = "https://telesign.conformance.test"
SECRET = "conformance-webhook-secret-0123456789"
PHONE = "+33612345678"
CODE = "123456"
MESSAGE_ID = "14466445287300014003"
FIXTURE = Path(__file__).parent / "fixtures" / "provider_mapping.md"
ORIGINAL = Path(__file__).resolve().parents[2] / "shared" / "PROVIDERS.md"

VERIFICATION_FAILED = (400, "verification_failed")
NOT_DELIVERED = (400, "not_delivered")
INVALID = (400, "invalid_code")
EXPIRED = (400, "expired")
LOCKED = (429, "too_many_attempts")
UNAVAILABLE = (503, "provider_unavailable")
VERIFIED = (200, None)


@dataclass(frozen=True)
class Row:
    """One documented value and what the app makes of it.

    ``answer`` is what a client's code check answers right after (HTTP status, machine code);
    None when the verification is still open and a check goes on to the provider as usual.
    ``calls``: provider calls for the send (1: not retried). ``fails_over``: the next code
    (sent at once, or on the person's resend) goes through the fallback provider.
    """

    section: str  # the "Provider" column of PROVIDERS.md
    value: str  # the documented value
    state: str
    reason: str
    answer: tuple[int, str | None] | None
    calls: int = 1
    fails_over: bool = False
    via: str = ""  # "send", "report" or "check"; from the section when empty
    detail: str = ""  # TeleSign's -10001 names its parameter

    @property
    def provider(self) -> str:
        return self.section.split()[0].lower()

    @property
    def path(self) -> str:
        return self.via or SECTION_VIA[self.section]

    @property
    def id(self) -> str:
        return "-".join(filter(None, [self.section.replace(" ", "_"), self.value, self.via]))


SECTION_VIA = {
    "DQE MSG": "send",
    "DQE VERIF": "check",
    "Fortytwo req": "send",
    "Fortytwo DLR": "report",
    "Fortytwo validate": "check",
    "TeleSign code_state": "check",
    "TeleSign err": "send",
}


def opened(section: str, value: str, state: str, **kw) -> Row:
    """A value after which the verification stays open: checks go on to the provider."""
    return Row(section, value, state, "", None, **kw)


def ended(section: str, value: str, state: str, reason: str, **kw) -> Row:
    kw.setdefault("answer", VERIFICATION_FAILED)
    return Row(section, value, state, reason, **kw)


def fault(section: str, value: str, reason: str, **kw) -> Row:
    """A provider fault before any delivery: fails over to the fallback."""
    return ended(section, value, "failed", reason, fails_over=True, **kw)


def retried(section: str, value: str, **kw) -> Row:
    """A temporary fault: retried (first try + SEND_MAX_RETRIES), then failed over."""
    return fault(section, value, "provider_unavailable", calls=3, **kw)


def number_refused(section: str, value: str, reason: str, **kw) -> Row:
    """A refusal of the number itself: another provider would refuse it too."""
    return ended(section, value, kw.pop("state", "rejected"), reason, **kw)


def delivery_failed(section: str, value: str, state: str, reason: str, **kw) -> Row:
    """The message was not delivered (before any code was): no code to check, ask for another."""
    return ended(section, value, state, reason, answer=NOT_DELIVERED, fails_over=True, **kw)


def checked(section: str, value: str, answer: tuple[int, str | None], state: str, **kw) -> Row:
    reason = kw.pop("reason", "")
    return Row(section, value, state, reason, answer, **kw)


TELESIGN_UNDELIVERABLE = ("207", "210", "211", "220", "510", "511", "512", "513", "514")
TELESIGN_REJECTED = "229 230 231 233 237 238 502 504 506 508 509 515 517 518 519 520 521".split()
#: PROVIDERS.md's "-300xx": the TeleSign authentication errors it lists.
TELESIGN_AUTH = tuple(
    str(code)
    for code in (-30000, -30001, -30002, -30004, -30005, -30006, -30007, -30008, -30009)
    + (-30010, -30011, -30012, -30015)
)


def telesign_status_rows(via: str) -> list[Row]:
    """TeleSign's ``status.code``, in a send answer or a callback."""
    rows = [
        opened("TeleSign", "290", "pending", via=via),
        *(opened("TeleSign", c, "sent", via=via) for c in ("203", "292", "295", "250", "251")),
        opened("TeleSign", "200", "delivered", via=via),
        opened("TeleSign", "201", "delivered", via=via),
        *(
            delivery_failed("TeleSign", c, "undeliverable", "undeliverable", via=via)
            for c in TELESIGN_UNDELIVERABLE
        ),
        number_refused("TeleSign", "222", "not_mobile", state="undeliverable", via=via),
        number_refused("TeleSign", "507", "invalid_phone_number", state="undeliverable", via=via),
        delivery_failed("TeleSign", "221", "expired", "message_expired", via=via),
        *(
            delivery_failed("TeleSign", c, "rejected", "rejected", via=via)
            for c in TELESIGN_REJECTED
        ),
        opened("TeleSign", "599", "pending", via=via),  # status not available: no change
    ]
    if via == "send":
        # A temporary carrier or gateway error on a send: tried again, then failed over.
        rows += [retried("TeleSign", "503", via=via), retried("TeleSign", "505", via=via)]
        rows += [fault("TeleSign", c, "provider_error", via=via) for c in ("500", "501")]
    else:
        rows += [
            delivery_failed("TeleSign", c, "rejected", "rejected", via=via) for c in ("503", "505")
        ]
        rows += [ended("TeleSign", c, "failed", "provider_error", via=via) for c in ("500", "501")]
    return rows


ROWS: list[Row] = [
    # --- DQE GDPR_MSG: the send answer's status, then its error codes
    opened("DQE MSG", "PENDING", "sent"),
    opened("DQE MSG", "DELIVERED", "delivered"),
    delivery_failed("DQE MSG", "UNDELIVERABLE", "undeliverable", "undeliverable"),
    delivery_failed("DQE MSG", "EXPIRED", "expired", "message_expired"),
    delivery_failed("DQE MSG", "REJECTED", "rejected", "rejected"),
    number_refused("DQE MSG", "03", "invalid_phone_number"),
    number_refused("DQE MSG", "04", "invalid_country"),
    number_refused("DQE MSG", "06", "invalid_country"),
    fault("DQE MSG", "01", "provider_config"),
    fault("DQE MSG", "02", "provider_auth"),
    fault("DQE MSG", "05", "provider_config"),
    fault("DQE MSG", "07", "provider_config"),
    fault("DQE MSG", "10", "provider_config"),
    fault("DQE MSG", "11", "no_channel_selected"),
    retried("DQE MSG", "08"),
    opened("DQE MSG", "09", "sent"),  # no delivery status received: final unknown
    # --- DQE GDPR_VERIF
    checked("DQE VERIF", "00", VERIFIED, "verified"),
    checked("DQE VERIF", "04", INVALID, "sent"),
    checked("DQE VERIF", "02", INVALID, "sent"),
    checked("DQE VERIF", "03", EXPIRED, "expired", reason="expired"),
    checked("DQE VERIF", "01", VERIFICATION_FAILED, "failed", reason="provider_config"),
    checked("DQE VERIF", "05", VERIFICATION_FAILED, "failed", reason="invalid_token"),
    # --- Fortytwo request code
    opened("Fortytwo req", "0", "pending"),
    opened("Fortytwo req", "HTTP 201", "pending"),
    opened("Fortytwo req", "-52", "pending"),  # our lost first try went through
    number_refused("Fortytwo req", "-59", "invalid_phone_number"),
    number_refused("Fortytwo req", "-60", "invalid_phone_number"),
    *(fault("Fortytwo req", c, "provider_auth") for c in ("-50", "-51", "-66", "-67")),
    *(
        fault("Fortytwo req", c, "provider_config")
        for c in ("-57", "-58", "-61", "-62", "-63", "-64", "-68", "-69")
    ),
    retried("Fortytwo req", "-65"),
    retried("Fortytwo req", "HTTP 429"),
    retried("Fortytwo req", "HTTP 500"),
    # --- Fortytwo delivery reports
    *(opened("Fortytwo DLR", s, "sent") for s in ("ENROUTE", "ACCEPTD", "UNKNOWN")),
    opened("Fortytwo DLR", "DELIVRD", "delivered"),
    delivery_failed("Fortytwo DLR", "UNDELIV", "undeliverable", "undeliverable"),
    delivery_failed("Fortytwo DLR", "DELETED", "undeliverable", "undeliverable"),
    delivery_failed("Fortytwo DLR", "EXPIRED", "expired", "message_expired"),
    delivery_failed("Fortytwo DLR", "REJECTD", "rejected", "rejected"),
    # --- Fortytwo validate code
    checked("Fortytwo validate", "0", VERIFIED, "verified"),
    checked("Fortytwo validate", "-54", INVALID, "pending"),
    checked("Fortytwo validate", "-53", EXPIRED, "expired", reason="expired"),
    checked("Fortytwo validate", "-55", INVALID, "pending"),  # its wording covers a wrong code
    checked("Fortytwo validate", "-56", INVALID, "pending"),
    # --- TeleSign status codes, in a send answer and in a callback
    *telesign_status_rows("send"),
    *telesign_status_rows("report"),
    # --- TeleSign verify.code_state of a check
    checked("TeleSign code_state", "VALID", VERIFIED, "verified"),
    checked("TeleSign code_state", "INVALID", INVALID, "pending"),
    checked("TeleSign code_state", "EXPIRED", EXPIRED, "expired", reason="expired"),
    checked(
        "TeleSign code_state", "MAX_ATTEMPTS_EXCEEDED", LOCKED, "failed", reason="too_many_attempts"
    ),
    checked("TeleSign code_state", "UNKNOWN", UNAVAILABLE, "pending"),  # not evaluated
    # --- TeleSign errors[] on a send (and -10004 on a check)
    number_refused("TeleSign err", "-10001", "invalid_phone_number", detail="phone_number"),
    fault("TeleSign err", "-10001", "provider_config", detail="ucid"),
    # A trial account's unverified number: this account refuses it, another provider may not.
    ended("TeleSign err", "-10033", "rejected", "number_not_allowed", fails_over=True),
    fault("TeleSign err", "-20002", "provider_config"),
    fault("TeleSign err", "-10030", "provider_account"),
    fault("TeleSign err", "-10009", "provider_auth"),
    *(fault("TeleSign err", c, "provider_auth") for c in TELESIGN_AUTH),
    checked("TeleSign err", "-10004", EXPIRED, "expired", reason="expired", via="check"),
    retried("TeleSign err", "-40007"),
    retried("TeleSign err", "-90001"),
    # A hard cap (PROVIDERS.md: retryable with backoff): retrying within minutes cannot lift a
    # daily cap, so it is a fault that fails over at once.
    fault("TeleSign err", "-40008", "provider_quota"),
]


# --- the harness --------------------------------------------------------------------------


@pytest.fixture
def conformance(settings):
    """Run a block with ``provider`` first and, when asked, the console as its fallback."""

    def configure(provider: str, *, fallback: bool):
        return override_settings(
            PHONE_VERIFY={
                **settings.PHONE_VERIFY,
                "PROVIDER": provider,
                "FALLBACK_PROVIDERS": ["console"] if fallback else [],
                "PROVIDER_OPTIONS": {
                    "dqe": {"URL": DQE, "LICENCE": "LIC", "COMPANY": "MYCOMPANY"},
                    "fortytwo": {"URL": FORTYTWO, "TOKEN": "tok"},
                    "telesign": {"URL": TELESIGN, "CUSTOMER_ID": CUSTOMER_ID, "API_KEY": API_KEY},
                },
                "WEBHOOK_SECRETS": [SECRET],
                "PUBLIC_URL": "https://shop.example.com",
                "SEND_MAX_RETRIES": 2,
                "RETRY_BACKOFF_MAX": 0,
                "POLL_MAX": 0,
                "CODE_LIFETIME": 600,
            }
        )

    return configure


def mock_send(mock: responses.RequestsMock, row: Row) -> responses.BaseResponse:
    """The provider's send answer: the row's own value when it is about the send."""
    value = row.value if row.path == "send" else ""
    if row.provider == "dqe":
        if value.isdigit():
            body = msg_answer(error=value, status="PENDING" if value == "09" else "")
        else:
            body = msg_answer(status=value or "PENDING")
        return mock.post(f"{DQE}/GDPR_MSG/", json=body)
    if row.provider == "fortytwo":
        if value.startswith("HTTP"):
            http = int(value.split()[1])
            return mock.post(
                f"{FORTYTWO}/1/2fa", json=REQUEST_OK if http < 300 else {}, status=http
            )
        if value in ("", "0"):
            return mock.post(f"{FORTYTWO}/1/2fa", json=REQUEST_OK, status=201)
        return mock.post(f"{FORTYTWO}/1/2fa", json=result(int(value)), status=HTTP_OF[int(value)])
    if row.section == "TeleSign err" and row.path == "send":
        description = f"Invalid value for parameter {row.detail}." if row.detail else "text"
        http = 401 if -30015 <= int(value) <= -30000 else 400
        body = answer(500, errors=[(int(value), description)])
        return mock.post(f"{TELESIGN}/v1/verify/sms", json=body, status=http)
    return mock.post(f"{TELESIGN}/v1/verify/sms", json=answer(int(value or 290)))


def mock_check(mock: responses.RequestsMock, row: Row, verification: Verification) -> None:
    if row.provider == "dqe":
        status = "OK" if row.value == "00" else "KO"
        mock.post(f"{DQE}/GDPR_VERIF/", json=verif_answer(row.value, status))
    elif row.provider == "fortytwo":
        code = int(row.value)
        http = 200 if code == 0 else HTTP_OF[code]
        mock.post(f"{FORTYTWO}/1/2fa/{verification.pk}/{CODE}", json=result(code), status=http)
    elif row.section == "TeleSign err":
        body = answer(599, errors=[(int(row.value), "Reference ID expired.")])
        mock.get(f"{TELESIGN}/v1/verify/{REF}", json=body, status=404)
    else:
        mock.get(f"{TELESIGN}/v1/verify/{REF}", json=answer(200, row.value))


def post_report(client, row: Row, verification: Verification, send_call) -> None:
    """The delivery report, posted to the callback URL the send gave, as the provider would."""
    if row.provider == "fortytwo":
        url = urlsplit(json.loads(send_call.request.body)["callback_url"])
        item = {"type": "SMS", "message_id": MESSAGE_ID, "status": row.value, "timestamp": 1}
        body = json.dumps({"api_job_id": "j", "client_job_id": "", "data": [item]}).encode()
        # The URL's credentials, sent as an HTTP client sends them.
        credentials = base64.b64encode(f"{url.username}:{url.password}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}"}
        path = f"{url.path}?{url.query}"
    else:
        payload = answer(int(row.value), at="2026-11-22T10:00:05Z")
        body = json.dumps(payload).encode()
        signature = hmac_sha256(API_KEY, body)
        headers = {"Authorization": f"TSA {CUSTOMER_ID}:{signature}"}
        path = "/api/phone-verify/webhooks/telesign/"
    response = client.generic("POST", path, body, content_type="application/json", headers=headers)
    assert response.status_code == 200 and response.json()["matched"] == 1, response.content


def drive(api, client, row: Row) -> tuple[Verification, int, responses.RequestsMock]:
    """Start a verification and bring the row's value to it; the send's call count."""
    mock = responses.RequestsMock(assert_all_requests_are_fired=False)
    mock.start()
    send = mock_send(mock, row)
    created = api.start(PHONE, consents={"sms": True})
    assert created.status_code == 201, created.json()
    verification = Verification.objects.get(pk=created.json()["id"])
    calls = len(send.calls)
    if row.path == "report":
        post_report(client, row, verification, send.calls[0])
    verification.refresh_from_db()
    return verification, calls, mock


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_conformance(api, client, conformance, row):
    with conformance(row.provider, fallback=False):
        verification, calls, mock = drive(api, client, row)
        try:
            if row.path == "check":
                mock_check(mock, row, verification)
                response = api.check(verification.pk, CODE)
                got = (response.status_code, response.json().get("code"))
                assert got == row.answer, response.json()
            elif row.answer is None:
                assert not Status(verification.status).is_final
            else:
                response = api.check(verification.pk, CODE)
                assert (response.status_code, response.json().get("code")) == row.answer
        finally:
            mock.stop()
            mock.reset()
    verification.refresh_from_db()
    assert (verification.status, verification.reason) == (row.state, row.reason)
    assert calls == row.calls


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_failover(api, client, conformance, row, outbox):
    """With the console as fallback: does the next code go through it?"""
    with conformance(row.provider, fallback=True):
        verification, _, mock = drive(api, client, row)
        try:
            if row.path == "check":
                mock_check(mock, row, verification)
                api.check(verification.pk, CODE)
            if verification.provider != "console":
                # Not failed over at once: would the person's resend be?
                Verification.objects.filter(pk=verification.pk).update(
                    last_sent_at="2000-01-01T00:00:00Z"
                )
                api.post(f"verifications/{verification.pk}/resend/")
        finally:
            mock.stop()
            mock.reset()
    verification.refresh_from_db()
    assert (verification.provider == "console" and len(outbox) == 1) is row.fails_over


# --- the count ----------------------------------------------------------------------------

#: Sections of the table that are not SMS verification, with why they have no row here.
NOT_HERE = {
    "DQE IDM": "identity prefill, not a verification (tests/test_prefill.py, one test per id)",
    "TeleSign Verify": "TeleSign's newer Verify API, which the app does not use (SMS Verify)",
}
STOP_WORDS = {"OK", "KO"}  # "OK + 00", "04 (KO)": the status that goes with the code


def documented_values(table: str) -> set[tuple[str, str]]:
    """(section, value) of every code and status in the mapping table, ranges expanded."""
    values = set()
    for line in table.splitlines()[2:]:
        section, value = (cell.strip() for cell in line.strip("|").split("|")[:2])
        if any(section.startswith(prefix) for prefix in NOT_HERE):
            continue
        value = re.sub(r"HTTP (\d+)/(\d+)", r"HTTP \1, HTTP \2", value)
        for token in re.findall(r"HTTP \d+|-?\d+x*(?:–-?\d+)?|[A-Z][A-Z_]+", value):
            if token in STOP_WORDS:
                continue
            if token == "-300xx":
                values.update((section, code) for code in TELESIGN_AUTH)
            elif "–" in token:
                low, high = token.split("–")
                width = len(low.lstrip("-"))
                values.update(
                    (section, f"{'-' if n < 0 else ''}{abs(n):0{width}d}")
                    for n in range(min(int(low), int(high)), max(int(low), int(high)) + 1)
                )
            else:
                values.add((section, token))
    return values


def test_every_documented_code_has_a_row(numbers):
    documented = documented_values(FIXTURE.read_text())
    rows = {(row.section, row.value) for row in ROWS}

    assert documented - rows == set()  # every documented value is driven through the app
    assert rows - documented == set()  # and nothing else poses as documented
    numbers(f"{len(documented)} documented values, {len(ROWS)} rows")
    assert len(documented) == 124


@pytest.mark.skipif(not ORIGINAL.exists(), reason="../shared/PROVIDERS.md is not beside the repo")
def test_the_copy_is_the_table_of_providers_md():
    original = ORIGINAL.read_text()
    section = original[original.index("## 5. Normalized lifecycle") :]
    table = [
        line for line in section.split("\nLocal rules")[0].splitlines() if line.startswith("|")
    ]
    assert FIXTURE.read_text().splitlines() == table
