"""A fake DQE SMS Phone Confirmation server on 127.0.0.1, for tests and local demos.

It implements GDPR_MSG and GDPR_VERIF as the seed documents describe them (answers shaped like
their JSON examples), by GET or form-encoded POST, and keeps what it received. Errors on demand:
``server.fail_next.append("08")`` makes the next GDPR_MSG answer DQE error 08;
``server.fail_next.append(500)`` answers HTTP 500; ``"garbage"`` answers a body that is not JSON.

Run alone: ``python -m tests.fake_dqe 8001`` prints each PIN it "sends".
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from .fake_server import FakeRequest, main

MSG_ERRORS = {
    "00": "No errors",
    "01": "Missing parameters",
    "02": "Service not authorized for this licence",
    "03": "Invalid phone number",
    "04": "Invalid country code",
    "08": "Internal API error",
    "11": "At least one communication channel must be enabled",
}
VERIF_ERRORS = {
    "00": "No errors",
    "01": "Missing parameters",
    "02": "PIN must contain 6 digits",
    "03": "PIN expired",
    "04": "PIN invalid for this token or phone number",
    "05": "Invalid token",
}
CONSENT_PARAMS = ["Phonecom", "Email", "Post", "Sms"] + [
    f"{channel}{contact}"
    for channel in ("SMS", "PHONE", "EMAIL", "POST")
    for contact in range(2, 6)
]


@dataclass
class Sms:
    phone: str
    pin: str
    expires_at: dt.datetime
    channels: dict[str, int]


@dataclass
class FakeDqe:
    licence: str = "TEST-LICENCE"
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    sms: dict[str, Sms] = field(default_factory=dict)  # smsToken -> what was sent
    fail_next: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pin_for(self, phone_digits: str) -> str:
        """The latest PIN "texted" to this number."""
        with self.lock:
            return next(s.pin for s in reversed(self.sms.values()) if s.phone == phone_digits)

    def delay(self) -> float:
        return 0

    def handle(self, request: FakeRequest) -> tuple[int, Any]:
        method, path = request.method, request.path
        params = dict(parse_qsl(request.query))
        if method == "POST":
            params.update(parse_qsl(request.body.decode()))
        with self.lock:
            self.requests.append((method, path, params))
            fault = self.fail_next.pop(0) if self.fail_next else None
        if isinstance(fault, int):
            return fault, {"error": "server error"}
        if fault == "garbage":
            return 200, "<html>Service temporarily unavailable</html>"
        now = dt.datetime.now()
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        if path == "/GDPR_MSG/":
            return 200, self._msg(params, fault, now, stamp)
        if path == "/GDPR_VERIF/":
            return 200, self._verif(params, fault, now, stamp)
        return 404, {"error": "not found"}

    def _msg(self, params: dict[str, str], fault: Any, now: dt.datetime, stamp: str) -> Any:
        channels = {
            "phone": int(params.get("Phonecom", "0")),
            "post": int(params.get("Post", "0")),
            "sms": int(params.get("Sms", "0")),
            "email": int(params.get("Email", "0")),
        }
        required = ("Licence", "Phone", "Country", "Company", "Custom_sms")
        error = fault or (
            "01"
            if not all(params.get(name) for name in required)
            else "02"
            if params["Licence"] != self.licence
            else "03"
            if not params["Phone"].isdigit()
            else "11"
            if not any(params.get(name) == "1" for name in CONSENT_PARAMS)
            else "00"
        )
        answer = {
            "channels": channels,
            "to": params.get("Phone", ""),
            "errors": {error: f"{error} - {MSG_ERRORS.get(error, 'Error')}"},
            "status": "DELIVERED" if error == "00" else "",
            "smsToken": "",
            "timeout": params.get("Duration", "3"),
            "companyName": params.get("Company", ""),
            "country": params.get("Country", ""),
            "dateTime": stamp,
        }
        if error == "00":
            token = secrets.token_urlsafe(16)
            pin = f"{secrets.randbelow(10**6):06d}"
            minutes = int(answer["timeout"])
            with self.lock:
                self.sms[token] = Sms(
                    params["Phone"], pin, now + dt.timedelta(minutes=minutes), channels
                )
            answer["smsToken"] = token
            print(f"fake DQE: PIN {pin} for {params['Phone']}", flush=True)
        return answer

    def _verif(self, params: dict[str, str], fault: Any, now: dt.datetime, stamp: str) -> Any:
        with self.lock:
            sms = self.sms.get(params.get("Token", ""))
        pin = params.get("Pin", "")
        error = fault or (
            "01"
            if not all(params.get(name) for name in ("Phone", "Token", "Pin"))
            else "02"
            if not (len(pin) == 6 and pin.isdigit())
            else "05"
            if sms is None
            else "04"
            if sms.phone != params["Phone"] or sms.pin != pin
            else "03"
            if now > sms.expires_at
            else "00"
        )
        return {
            "status": "OK" if error == "00" else "KO",
            "phone": params.get("Phone", ""),
            "errors": {error: f"{error} - {VERIF_ERRORS.get(error, 'Error')}"},
            "channels": sms.channels if sms else {},
            "dateTime": stamp,
        }


if __name__ == "__main__":
    main(FakeDqe(), 8001, "fake DQE (licence TEST-LICENCE)")
