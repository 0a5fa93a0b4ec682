"""A fake DQE server on 127.0.0.1, for tests and local demos: SMS Phone Confirmation and ID Mobile.

It implements GDPR_MSG and GDPR_VERIF as the seed documents describe them (answers shaped like
their JSON examples), by GET or form-encoded POST, and keeps what it received. ID Mobile:
ACCESS_TOKEN, IDMOBILE (the operator URL is ``/operator/`` here: it "consents" and sends the
browser back to the redirect_uri with a session token), and GET, which answers ``pending``
``pending_polls`` times, then the seed's success (or ``retrieval_error``). Errors on demand:
``server.fail_next.append("08")`` makes the next GDPR_MSG answer DQE error 08;
``server.fail_next.append(500)`` answers HTTP 500; ``"garbage"`` answers a body that is not JSON.
Delivery on demand: ``server.status_next.append("EXPIRED")`` makes the next GDPR_MSG answer that
status (``UNDELIVERABLE``, ``REJECTED``...): the PIN then never reaches the phone.

Run alone: ``python -m tests.fake_dqe 8001`` prints each PIN it "sends".
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .fake_server import FakeRequest, main
from .log_audit import issued

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
FIXTURES = Path(__file__).parent / "fixtures" / "dqe"
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
class IdMobileSession:
    number: str
    redirect_uri: str
    scope: str
    polls: int = 0


@dataclass
class FakeDqe:
    licence: str = "TEST-LICENCE"
    client_secret: str = "TEST-SECRET"
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    sms: dict[str, Sms] = field(default_factory=dict)  # smsToken -> what was sent
    fail_next: list[Any] = field(default_factory=list)
    status_next: list[str] = field(default_factory=list)  # GDPR_MSG statuses, then DELIVERED
    lock: threading.Lock = field(default_factory=threading.Lock)
    # ID Mobile: access tokens -> expiry, sessions by their token, and what happens next
    token_ttl: int = 300
    tokens: dict[str, dt.datetime] = field(default_factory=dict)
    sessions: dict[str, IdMobileSession] = field(default_factory=dict)
    pending_polls: int = 2  # retrievals answering "pending" before the outcome
    consent_error: str = ""  # an IDMOBILE error id to answer, e.g. "09"
    retrieval_error: str = ""  # a GET error id to answer instead of success, e.g. "21"

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
        if path == "/ACCESS_TOKEN/":
            return self._access_token(params)
        if path == "/IDMOBILE/":
            return self._idmobile(params, request.headers.get("Host", ""))
        if path == "/operator/":
            return self._operator(params)
        if path == "/GET/":
            return self._retrieve(params)
        return 404, {"error": "not found"}

    # --- ID Mobile --------------------------------------------------------------------------

    def _access_token(self, params: dict[str, str]) -> tuple[int, Any]:
        if params.get("grant_type") != "client_idmobile":
            return 400, {"status": "error", "error_id": "31", "error_type": "unsupported grant"}
        if params.get("licence") != self.licence:
            return 400, {"status": "error", "error_id": "22", "error_type": "unauthorized client"}
        if params.get("client_secret") != self.client_secret:
            return 400, {"status": "error", "error_id": "03", "error_type": "invalid secret"}
        token = secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[token] = dt.datetime.now() + dt.timedelta(seconds=self.token_ttl)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": str(self.token_ttl),
            "refresh_token": secrets.token_urlsafe(24),
            "status": "success",
        }

    def _idmobile(self, params: dict[str, str], host: str) -> tuple[int, Any]:
        def error(error_id: str, error_type: str) -> tuple[int, Any]:
            return 200, {"status": "error", "error_id": error_id, "error_type": error_type}

        with self.lock:
            expiry = self.tokens.get(params.get("token", ""))
        if expiry is None or expiry < dt.datetime.now():
            return error("30", "invalid or expired token")
        if params.get("licence") != self.licence:
            return error("02", "invalid licence")
        if params.get("mode") != "2" or not params.get("name"):
            return error("01", "invalid request")
        if params.get("scope") not in ("formfilling", "matching,formfilling"):
            return error("04", "invalid scope")
        if not params.get("number", "").isdigit():
            return error("10", "invalid number")
        if self.consent_error:
            return error(self.consent_error, "on demand")
        session = secrets.token_urlsafe(16)
        with self.lock:
            self.sessions[session] = IdMobileSession(
                params["number"], params.get("redirect_uri", ""), params["scope"]
            )
        url = f"http://{host}/operator/?{urlencode({'session': session})}"
        return 200, {"status": "success", "operator": "Orange", "url": url}

    def _operator(self, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """The operator's consent page: the user agrees, the browser goes back to us."""
        session = self.sessions[params["session"]]
        back = (
            f"{session.redirect_uri}?{urlencode({'token': params['session'], 'status': 'success'})}"
        )
        return 302, {"consent": "given"}, {"Location": back}

    def _retrieve(self, params: dict[str, str]) -> tuple[int, Any]:
        if params.get("Licence") != self.licence:
            return 200, {"status": "error", "error_id": "02", "error_type": "invalid licence"}
        with self.lock:
            session = self.sessions.get(params.get("token", ""))
            if session is not None:
                session.polls += 1
        if session is None:
            return 200, {"status": "error", "error_id": "30", "error_type": "expired token"}
        if session.polls <= self.pending_polls:
            return 200, {"status": "pending", "scope": session.scope}
        if self.retrieval_error:
            return 200, {"status": "error", "error_id": self.retrieval_error, "error_type": "x"}
        return 200, json.loads((FIXTURES / "idmobile_success.json").read_text())

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
            with self.lock:
                status = self.status_next.pop(0) if self.status_next else "DELIVERED"
            answer["status"], answer["smsToken"] = status, token
            if status not in ("DELIVERED", "PENDING"):
                return answer  # the message never reached the phone: no PIN to type
            pin = f"{secrets.randbelow(10**6):06d}"
            minutes = int(answer["timeout"])
            with self.lock:
                self.sms[token] = Sms(
                    params["Phone"], pin, now + dt.timedelta(minutes=minutes), channels
                )
            issued(pin)
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
