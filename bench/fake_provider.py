"""The fake provider of the deployed benchmark, as a process of its own:

    python bench/fake_provider.py telesign|fortytwo PORT LATENCY

The tests' fake TeleSign or Fortytwo (``tests/fake_*.py``) answering every provider call after
LATENCY seconds, plus what neither real provider has and the load generator needs:

- ``POST /v1/messaging`` (TeleSign's plain SMS API, Basic auth): the message django-phone-verify's
  HTTP backend sends, its text kept as is;
- ``GET /_bench/code/{digits}``: the code last texted to that number, answered as soon as there
  is one (404 after 30 s without): it stands for the user reading the SMS, not for a provider
  call, and one request per flow keeps the load generator's own cost out of the way. A code is
  readable once the provider's answer to the send is on its way, not before (a real SMS reaches
  the phone after the API answered).
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fake_fortytwo import FakeFortytwo  # noqa: E402
from tests.fake_server import FakeRequest, serve  # noqa: E402
from tests.fake_telesign import FakeTeleSign  # noqa: E402

_answer = threading.local()  # per server thread: is the current request a provider call?


class BenchFake:
    """Mixin over a fake provider: ``latency`` on provider calls, the codes texted by number."""

    latency: float
    texted: dict[str, str]
    arrived: threading.Condition

    def handle(self, request: FakeRequest) -> tuple[Any, ...]:
        _answer.provider_call = not request.path.startswith("/_bench/")
        _answer.texted = {}
        if not _answer.provider_call:
            phone = request.path.rsplit("/", 1)[-1]
            with self.arrived:
                self.arrived.wait_for(lambda: phone in self.texted, timeout=30)
                code = self.texted.get(phone)
            return (200, {"code": code}) if code else (404, {"code": None})
        # Authenticated once only: the fake keeps TSA nonces, a second look would be a replay.
        messaging = request.path == "/v1/messaging"
        if messaging and self._authentication_error(request) is None:  # type: ignore[attr-defined]
            form = dict(parse_qsl(request.body.decode()))
            digits = re.search(r"\d{4,}", form.get("message", ""))
            _answer.texted[form.get("phone_number", "")] = digits.group(0) if digits else ""
            return 200, {"status": {"code": 290, "description": "Message in progress"}}
        answer = super().handle(request)  # type: ignore[misc]
        return answer

    def delay(self) -> float:
        if _answer.provider_call:
            time.sleep(self.latency)
            if _answer.texted:
                with self.arrived:
                    self.texted.update(_answer.texted)
                    self.arrived.notify_all()
        return 0


@dataclass
class BenchTeleSign(BenchFake, FakeTeleSign):
    latency: float = 0.150
    # Delivered at the first status poll, as a real SMS is by then (seconds after the send).
    polls_before_delivery: int = 0
    texted: dict[str, str] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def _send(self, form: dict[str, str]) -> tuple[int, Any]:
        answer = super()._send(form)
        if answer[0] == 200:
            sms = self.sms[answer[1]["reference_id"]]
            _answer.texted[sms.phone] = sms.code
        return answer


@dataclass
class BenchFortytwo(BenchFake, FakeFortytwo):
    texted: dict[str, str] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def _request_code(self, body: Any) -> tuple[int, Any]:
        answer = super()._request_code(body)
        if answer[0] == 201:
            _answer.texted[str(body["phone_number"])] = self.codes[body["client_ref"]].code
        return answer

    def _authentication_error(self, request: FakeRequest) -> tuple[int, str] | None:
        return 0, "Fortytwo has no plain messaging API here"


def main() -> None:
    kind, port, latency = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    fake = BenchTeleSign(latency=latency) if kind == "telesign" else BenchFortytwo(latency=latency)
    server = serve(fake, port, keep_alive=True)  # as real providers' HTTPS APIs
    print(f"fake {kind} on http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
