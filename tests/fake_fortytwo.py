"""A fake Fortytwo 2FA server on 127.0.0.1, for tests and local demos.

``POST /1/2fa`` generates a code and keeps it by ``client_ref`` (a reused client_ref answers -52,
as Fortytwo does); ``POST /1/2fa/{client_ref}/{code}`` validates it (0, -53 expired, -54 wrong,
-55 unknown). ``deliver(client_ref, "DELIVRD")`` posts a delivery report to the callback_url the
request gave. On demand: ``fail_next.append(-65)`` answers that Fortytwo code with its documented
HTTP status, ``fail_next.append(500)`` an HTTP 500, ``fail_next.append("garbage")`` a body
that is not JSON, ``slow_next.append(2.0)`` handles the request and then waits 2 s before
answering (the client times out, the SMS is out); ``latency`` delays every answer;
``failing_phones`` always answer 500 for those numbers.

Run alone: ``python -m tests.fake_fortytwo 8002`` prints each code it "sends".
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import requests

from .fake_server import FakeRequest, main
from .log_audit import issued

HTTP_OF = {
    -50: 401, -51: 401, -52: 422, -53: 200, -54: 422, -55: 422, -56: 422, -57: 422, -58: 422,
    -59: 422, -60: 422, -61: 422, -62: 422, -63: 422, -64: 400, -65: 400, -66: 400, -67: 400,
    -68: 422, -69: 422,
}  # fmt: skip


@dataclass
class Code:
    client_ref: str
    phone: str
    code: str
    message_id: str
    callback_url: str
    created: dt.datetime


@dataclass
class FakeFortytwo:
    token: str = "TEST-TOKEN"
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    codes: dict[str, Code] = field(default_factory=dict)  # client_ref -> code sent
    sms_sent: int = 0
    fail_next: list[int | str] = field(default_factory=list)
    slow_next: list[float] = field(default_factory=list)
    latency: float = 0
    failing_phones: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_per_ref(self) -> dict[str, int]:
        """How many code requests each client_ref made (retries and redeliveries included)."""
        counts: dict[str, int] = {}
        with self.lock:
            for _, path, _, body in self.requests:
                if path == "/1/2fa" and isinstance(body, dict):
                    counts[body["client_ref"]] = counts.get(body["client_ref"], 0) + 1
        return counts

    def code_for(self, client_ref: str) -> str:
        with self.lock:
            return self.codes[client_ref].code

    def latest(self) -> Code:
        with self.lock:
            return list(self.codes.values())[-1]

    def expire(self, client_ref: str) -> None:
        with self.lock:
            self.codes[client_ref].created -= dt.timedelta(minutes=6)

    def deliver(self, client_ref: str, status: str = "DELIVRD") -> requests.Response:
        """Post one delivery report for this code to its callback_url, as Fortytwo would."""
        code = self.codes[client_ref]
        now = time.time()
        report = {
            "api_job_id": str(uuid.uuid4()),
            "client_job_id": client_ref,
            "data": [
                {
                    "type": "SMS",
                    "message_id": code.message_id,
                    "status": status,
                    "timestamp": int(now * 1000),
                    "micro_timestamp": int(now * 1_000_000),
                    "to": code.phone,
                    "sms_from": "FAKE42",
                    "viber_from": "",
                    "client_message_id": client_ref,
                    "error_code": 0,
                }
            ],
        }
        return requests.post(code.callback_url, json=report, timeout=10)

    def delay(self) -> float:
        with self.lock:
            return self.slow_next.pop(0) if self.slow_next else self.latency

    def handle(self, request: FakeRequest) -> tuple[int, Any]:
        path, headers = request.path, request.headers
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = request.body.decode(errors="replace")
        with self.lock:
            self.requests.append(("POST", path, headers, body))
            fault = self.fail_next.pop(0) if self.fail_next else None
        if fault == "garbage":
            return 200, "<html>502 Bad Gateway</html>"
        if isinstance(body, dict) and str(body.get("phone_number")) in self.failing_phones:
            return 500, {"error": "server error"}
        if fault is not None and fault > 0:
            return fault, {"error": "server error"}
        if fault is not None:
            return self._result(fault, "fault on demand")
        auth = headers.get("Authorization", "")
        if not auth:
            return self._result(-51, "Authorization token not provided.")
        if auth != f"Token {self.token}":
            return self._result(-50, "Your authorization token is invalid.")
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts == ["1", "2fa"]:
            return self._request_code(body)
        if len(parts) == 4 and parts[:2] == ["1", "2fa"]:
            return self._validate(parts[2], parts[3])
        return 404, {"error": "not found"}

    def _request_code(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return self._result(-64, "System error - Request data provided was invalid.")
        ref, phone = body.get("client_ref"), str(body.get("phone_number") or "")
        template = body.get("message_template", "Your authentication code is: {#TFA_CODE}")
        length = int(body.get("code_length", 6))
        if not ref:
            return self._result(-62, "No client ref provided in request")
        if not phone:
            return self._result(-60, "No phone number provided in request")
        if not phone.isdigit():
            return self._result(-59, "Phone number format is incorrect.")
        if "{#TFA_CODE}" not in template:
            return self._result(-68, "Message template must contain placeholder {#TFA_CODE}.")
        if length > 20:
            return self._result(-58, "Code length too long.")
        with self.lock:
            if ref in self.codes:
                return self._result(-52, "Client ref provided already exists.")
            code = "".join(str(secrets.randbelow(10)) for _ in range(length))
            message_id = str(secrets.randbelow(10**20))
            self.codes[ref] = Code(
                ref, phone, code, message_id, body.get("callback_url", ""), dt.datetime.now()
            )
            self.sms_sent += 1
        issued(code)
        print(f"fake Fortytwo: code {code} for {phone} ({ref})", flush=True)
        status, answer = self._result(0, "Success", http=201)
        answer["result"] = {"message_id": message_id}
        return status, answer

    def _validate(self, ref: str, code: str) -> tuple[int, Any]:
        with self.lock:
            sent = self.codes.get(ref)
        if sent is None:
            return self._result(-55, "The code for the provided client ref was not found.")
        if not code:
            return self._result(-56, "No code was provided.")
        if dt.datetime.now() - sent.created > dt.timedelta(minutes=5):
            return self._result(-53, "Invalid")
        if code != sent.code:
            return self._result(-54, "Declined")
        return self._result(0, "Valid", http=200)

    @staticmethod
    def _result(code: int, description: str, http: int | None = None) -> tuple[int, Any]:
        answer = {
            "api_job_id": str(uuid.uuid4()),
            "result_info": {"status_code": code, "description": description},
        }
        return (http or HTTP_OF[code]), answer


if __name__ == "__main__":
    main(FakeFortytwo(), 8002, "fake Fortytwo (token TEST-TOKEN)")
