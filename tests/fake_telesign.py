"""A fake TeleSign SMS Verify server on 127.0.0.1, for tests and local demos.

It checks each request's authentication (Basic, or the TSA signature recomputed with its key
by its own implementation of TeleSign's documented algorithm, never the app's: a fake that
shared the app's signing code would accept whatever the app gets wrong), then: ``POST
/v1/verify/sms`` keeps a code (``verify_code`` when given, else 7 random digits), ``GET
/v1/verify/{reference_id}[?verify_code=]`` answers the delivery status (290 for the first
``polls_before_delivery`` polls, then 200) and the code state, ``PUT
/v1/verify/completion/{reference_id}`` answers 1900. ``deliver(reference_id)`` posts a callback
signed like TeleSign's. On demand: ``fail_next.append(-40007)`` answers that error code,
``fail_next.append(503)`` an HTTP 503.

Run alone: ``python -m tests.fake_telesign 8003`` prints each code it "sends".
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import requests

from .fake_server import FakeRequest, main
from .log_audit import issued

CUSTOMER_ID = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"
API_KEY = base64.b64encode(b"fake telesign key, 32 bytes long").decode()


@dataclass
class Sms:
    reference_id: str
    phone: str
    code: str
    callback_url: str
    form: dict[str, str]
    polls: int = 0
    completed: bool = False
    expired: bool = False


def hmac_sha256(api_key: str, message: bytes) -> str:
    """TeleSign's signature: base64 of HMAC-SHA256 keyed by the base64-decoded API key."""
    key = base64.b64decode(api_key)
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


def canonical_request(request: FakeRequest) -> bytes:
    """TeleSign's string to sign for ``request`` (developer.telesign.com "Authentication"):
    method, Content-Type, Date (an empty line when the request dates itself with x-ts-date
    instead), the x-ts-* headers sorted by name, the body when there is a content type, the
    resource path."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    content_type = headers.get("content-type", "")
    date = "" if "x-ts-date" in headers else headers.get("date", "")
    x_ts = [
        f"{name}:{headers[name]}"
        for name in sorted(headers)
        if name.startswith("x-ts-") and name != "x-ts-authorization"
    ]
    parts = [request.method, content_type, date, *x_ts]
    body = request.body.decode()
    if content_type and body:
        parts.append(body)
    parts.append(request.path)
    return "\n".join(parts).encode()


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeTeleSign:
    customer_id: str = CUSTOMER_ID
    api_key: str = API_KEY
    polls_before_delivery: int = 1_000_000
    requests: list[FakeRequest] = field(default_factory=list)
    sms: dict[str, Sms] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def delay(self) -> float:
        return 0

    def latest(self) -> Sms:
        with self.lock:
            return list(self.sms.values())[-1]

    def deliver(self, reference_id: str, code: int = 200, **extra: Any) -> requests.Response:
        """Post a callback for this message to its callback_url, signed as TeleSign signs."""
        sms = self.sms[reference_id]
        body = json.dumps(
            {
                "status": {"updated_on": _now(), "code": code, "description": "Delivered"},
                "submit_timestamp": _now(),
                "errors": [],
                "reference_id": reference_id,
                "verify": {"code_state": "UNKNOWN", "code_entered": None},
                "sub_resource": "sms",
                "additional_info": {"message_parts_count": 1, "price": "0.0420", "mcc": "208"},
                **extra,
            }
        ).encode()
        sig = hmac_sha256(self.api_key, body)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"TSA {self.customer_id}:{sig}",
            "X-TS-Authorization": sig,
        }
        return requests.post(sms.callback_url, data=body, headers=headers, timeout=10)

    def handle(self, request: FakeRequest) -> tuple[int, Any]:
        with self.lock:
            self.requests.append(request)
            fault = self.fail_next.pop(0) if self.fail_next else None
        if fault is not None and fault > 0:
            return fault, {"error": "fault on demand"}
        if fault is not None:
            return 400, self._error(fault, "fault on demand")
        if refused := self._authentication_error(request):
            return 401, self._error(*refused, status=501)
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        query = dict(parse_qsl(request.query))
        if request.method == "POST" and parts == ["v1", "verify", "sms"]:
            return self._send(dict(parse_qsl(request.body.decode())))
        if request.method == "GET" and parts[:2] == ["v1", "verify"] and len(parts) == 3:
            return self._status(parts[2], query.get("verify_code"))
        if request.method == "PUT" and parts[:3] == ["v1", "verify", "completion"]:
            return self._complete(parts[3])
        return 404, self._error(-10001, "Not found")

    def _authentication_error(self, request: FakeRequest) -> tuple[int, str] | None:
        """TeleSign's -300xx error for a request it would refuse, None when authentic."""
        headers = {name.lower(): value for name, value in request.headers.items()}
        authorization = headers.get("authorization", "")
        if not authorization:
            return -30004, "Authorization header missing."
        if authorization.startswith("Basic "):
            expected = base64.b64encode(f"{self.customer_id}:{self.api_key}".encode()).decode()
            return None if authorization == f"Basic {expected}" else (-30015, "Bad API key.")
        scheme, _, credentials = authorization.partition(" ")
        customer_id, _, claimed = credentials.rpartition(":")
        if scheme != "TSA" or not claimed:
            return -30005, "Authorization header malformed."
        if customer_id != self.customer_id:
            return -30000, "Customer ID invalid."
        if headers.get("x-ts-auth-method") != "HMAC-SHA256":
            return -30008, "Bad x-ts-auth-method."
        if not (headers.get("date") or headers.get("x-ts-date")):
            return -30007, "Date missing."
        nonce = headers.get("x-ts-nonce", "")
        with self.lock:
            if nonce in self.nonces:
                return -30012, "Nonce reused."
            self.nonces.add(nonce)
        if not hmac.compare_digest(claimed, hmac_sha256(self.api_key, canonical_request(request))):
            return -30006, "Invalid signature."
        return None

    def _send(self, form: dict[str, str]) -> tuple[int, Any]:
        phone = form.get("phone_number", "")
        if not phone.isdigit():
            return 400, self._error(-10001, "Invalid value for parameter phone_number.")
        code = form.get("verify_code") or f"{secrets.randbelow(10**7):07d}"
        reference_id = secrets.token_hex(16).upper()
        with self.lock:
            self.sms[reference_id] = Sms(
                reference_id, phone, code, form.get("callback_url", ""), form
            )
        issued(code)
        print(f"fake TeleSign: code {code} for {phone} ({reference_id})", flush=True)
        return 200, self._answer(reference_id, 290, "UNKNOWN")

    def _status(self, reference_id: str, verify_code: str | None) -> tuple[int, Any]:
        with self.lock:
            sms = self.sms.get(reference_id)
            if sms is None:
                return 404, self._error(-10001, "Reference ID not found.", status=500)
            if verify_code is None:
                sms.polls += 1
            delivered = sms.polls > self.polls_before_delivery
        state = "UNKNOWN"
        if verify_code is not None:
            state = "EXPIRED" if sms.expired else "VALID" if verify_code == sms.code else "INVALID"
        return 200, self._answer(reference_id, 200 if delivered else 290, state)

    def _complete(self, reference_id: str) -> tuple[int, Any]:
        with self.lock:
            sms = self.sms.get(reference_id)
            if sms is None:
                return 400, self._error(-30013, "Invalid reference_id.")
            sms.completed = True
        answer = self._answer(reference_id, 1900, "UNKNOWN")
        answer["status"]["description"] = "Verify completion successfully recorded"
        return 200, answer

    @staticmethod
    def _answer(reference_id: str, code: int, state: str) -> dict[str, Any]:
        descriptions = {290: "Message in progress", 200: "Delivered to handset"}
        return {
            "reference_id": reference_id,
            "sub_resource": "sms",
            "errors": [],
            "status": {
                "code": code,
                "description": descriptions.get(code, ""),
                "updated_on": _now(),
            },
            "verify": {"code_state": state, "code_entered": ""},
        }

    @staticmethod
    def _error(code: int, description: str, status: int = 500) -> dict[str, Any]:
        return {
            "reference_id": secrets.token_hex(16).upper(),
            "errors": [{"code": code, "description": description}],
            "status": {
                "code": status,
                "description": "Transaction not attempted",
                "updated_on": _now(),
            },
        }


if __name__ == "__main__":
    main(FakeTeleSign(), 8003, f"fake TeleSign (customer {CUSTOMER_ID}, key {API_KEY})")
