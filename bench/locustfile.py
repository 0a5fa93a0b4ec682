"""The deployed benchmark's load: each user runs flows back to back, create -> the code read
from the fake provider (as the user reads the SMS) -> check, against ``--host``.

``BENCH_VARIANT`` is ``ours`` (our REST API) or ``dpv`` (django-phone-verify's); the fake
provider is at ``BENCH_PROVIDER_URL``. Locust records ``create`` and ``check``; the wait for
the SMS is recorded as ``code arrival`` (request type ``SMS``): it is the provider's latency
plus, for us, the queue and the worker, and it is not part of either request.
"""

from __future__ import annotations

import itertools
import os
import time

import requests
from locust import FastHttpUser, constant, events, task

VARIANT = os.environ.get("BENCH_VARIANT", "ours")
PROVIDER = os.environ.get("BENCH_PROVIDER_URL", "http://127.0.0.1:8003")
_numbers = itertools.count(10_000_000)


class CodeNotTexted(Exception):
    pass


class Flow(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.sms = requests.Session()

    def read_code(self, phone: str) -> str | None:
        """The code texted to ``phone`` (the fake answers once it is there); record the wait."""
        start = time.perf_counter()
        answer = self.sms.get(f"{PROVIDER}/_bench/code/{phone.lstrip('+')}", timeout=35)
        code = answer.json()["code"] if answer.status_code == 200 else None
        error = None if code else CodeNotTexted(phone)
        events.request.fire(
            request_type="SMS",
            name="code arrival",
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=error,
            context={},
        )
        return code

    @task
    def flow(self) -> None:
        phone = f"+336{next(_numbers):08d}"
        if VARIANT == "ours":
            self.flow_ours(phone)
        else:
            self.flow_dpv(phone)

    def flow_ours(self, phone: str) -> None:
        body = {"phone_number": phone, "consents": {"sms": True}}
        with self.client.post(
            "/api/phone-verify/verifications/", json=body, name="create", catch_response=True
        ) as created:
            if created.status_code != 201:
                created.failure(f"{created.status_code}: {created.text[:200]}")
                return
            verification_id = created.json()["id"]
        code = self.read_code(phone)
        if code is None:
            return
        with self.client.post(
            f"/api/phone-verify/verifications/{verification_id}/check/",
            json={"code": code},
            name="check",
            catch_response=True,
        ) as checked:
            if checked.status_code != 200 or checked.json().get("status") != "verified":
                checked.failure(f"{checked.status_code}: {checked.text[:200]}")

    def flow_dpv(self, phone: str) -> None:
        with self.client.post(
            "/api/phone/register", json={"phone_number": phone}, name="create", catch_response=True
        ) as created:
            if created.status_code != 200:
                created.failure(f"{created.status_code}: {created.text[:200]}")
                return
            token = created.json()["session_token"]
        code = self.read_code(phone)
        if code is None:
            return
        body = {"phone_number": phone, "session_token": token, "security_code": code}
        with self.client.post(
            "/api/phone/verify", json=body, name="check", catch_response=True
        ) as checked:
            if checked.status_code != 200:
                checked.failure(f"{checked.status_code}: {checked.text[:200]}")
