"""Reliability on real infrastructure: the example project's server and a real Celery worker
(separate processes) on PostgreSQL and Redis, against the fake providers on 127.0.0.1.

What must hold: a verification the API answered 201 for is never lost; one send texts one SMS
(Fortytwo dedupes by client_ref, which is the verification id); every verification ends somewhere
definite, with a reason; the API never answers 500. The numbers are printed under "measured".
"""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from phone_verify.models import DeliveryEvent, Verification

from .fake_fortytwo import FakeFortytwo
from .fake_server import running
from .fake_telesign import API_KEY, CUSTOMER_ID, FakeTeleSign
from .processes import (
    Process,
    free_port,
    process_database_url,
    redis_url,
    require_redis,
    start_redis,
    start_server,
    start_worker,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
]

TOKEN = "TOKEN-FAKE"
SECRET = "reliability-callback-secret-0123"
API = "/api/phone-verify/verifications/"


def phone(i: int) -> str:
    return f"+336{10_000_000 + i:08d}"


class Stack:
    """The example project as deployed: a server process and a worker process sharing the test
    database (PostgreSQL) and a Redis broker, with Fortytwo as provider (the fake)."""

    def __init__(self, fortytwo: FakeFortytwo, fortytwo_url: str) -> None:
        self.fortytwo = fortytwo
        port = free_port()
        self.env = {
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "DEBUG": "False",
            "DATABASE_URL": process_database_url(),
            "CELERY_BROKER_URL": redis_url(),
            "PHONE_VERIFY_PROVIDER": "fortytwo",
            "FORTYTWO_URL": fortytwo_url,
            "FORTYTWO_TOKEN": TOKEN,
            "PHONE_VERIFY_WEBHOOK_SECRET": SECRET,
            "PHONE_VERIFY_PUBLIC_URL": f"http://127.0.0.1:{port}",
            # DEBUG off: a real consent-signing key, as a deployment must have (phone_verify.E017).
            "PHONE_VERIFY_CONSENT_KEY": base64.b64encode(
                b"reliability-tests-signing-key-32"
            ).decode(),
        }
        self.port = port
        self.server: Process | None = None
        self.worker: Process | None = None
        self.statuses: Counter[int] = Counter()  # every API answer's HTTP status

    def start(
        self, concurrency: int = 4, *, worker: bool = True, beat: bool = False, **env: Any
    ) -> None:
        for name, value in env.items():
            self.env[name] = value if isinstance(value, str) else json.dumps(value)
        self.server, self.url = start_server(self.env, port=self.port)
        if worker:
            self.start_worker(concurrency, beat=beat)

    def start_worker(self, concurrency: int = 4, *, beat: bool = False) -> None:
        self.worker = start_worker(self.env, concurrency=concurrency, beat=beat)

    def stop(self) -> None:
        for process in (self.worker, self.server):
            if process is not None:
                process.stop()

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        answer = requests.request(method, self.url + API + path, timeout=30, **kwargs)
        self.statuses[answer.status_code] += 1
        return answer

    def create(self, count: int) -> list[str]:
        def one(i: int) -> requests.Response:
            return self.call("POST", "", json={"phone_number": phone(i), "consents": {"sms": True}})

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, range(count)))
        assert [a.status_code for a in answers] == [201] * count, answers[0].text
        return [a.json()["id"] for a in answers]

    def check_all(self, ids: list[str], code_for: Callable[[str], str]) -> list[dict[str, Any]]:
        def one(verification_id: str) -> dict[str, Any]:
            answer = self.call(
                "POST", f"{verification_id}/check/", json={"code": code_for(verification_id)}
            )
            return answer.json()

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, ids))

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> float:
        """Seconds until ``condition()`` held; fails with the worker's output after ``timeout``."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > timeout:
                output = "".join(self.worker.output[-60:]) if self.worker else ""
                pytest.fail(f"not within {timeout} s: {what}\nworker output:\n{output}")
            time.sleep(0.1)
        return time.monotonic() - start


@pytest.fixture
def stack(transactional_db: None) -> Iterator[Stack]:
    require_redis()
    fake = FakeFortytwo(token=TOKEN)
    with running(fake) as url:
        stack = Stack(fake, url)
        try:
            yield stack
        finally:
            stack.stop()
    assert stack.statuses[500] == 0


def sent(count: int) -> Callable[[], bool]:
    return lambda: Verification.objects.filter(sends_done=1).count() == count


def test_200_verifications_through_a_real_worker_all_end_verified(stack, numbers):
    stack.start(concurrency=4)
    start = time.monotonic()
    ids = stack.create(200)
    created = time.monotonic() - start
    all_sent = stack.wait_for(sent(200), 120, "200 codes sent")

    delivered = [stack.fortytwo.deliver(i, "DELIVRD").json()["matched"] for i in ids]
    checked = stack.check_all(ids, stack.fortytwo.code_for)

    assert delivered == [1] * 200
    assert [answer["status"] for answer in checked] == ["verified"] * 200
    assert Verification.objects.filter(status="verified").count() == 200
    assert stack.fortytwo.sms_sent == 200
    assert Counter(stack.fortytwo.requests_per_ref().values()) == {1: 200}
    numbers(
        f"200 created in {created:.2f} s, all sent {all_sent:.2f} s later by 4 worker "
        f"processes; 200 delivered, 200 verified; SMS texted {stack.fortytwo.sms_sent}"
    )


def test_a_worker_killed_mid_batch_loses_nothing_and_texts_nothing_twice(stack, numbers):
    stack.fortytwo.latency = 0.05  # a batch that takes a while
    stack.start(concurrency=2, CELERY_TEST_VISIBILITY_TIMEOUT="3")
    ids = stack.create(100)
    stack.wait_for(lambda: stack.fortytwo.sms_sent >= 20, 60, "20 SMS out")

    stack.worker.kill()
    texted_at_kill = stack.fortytwo.sms_sent
    recorded_at_kill = Verification.objects.filter(sends_done=1).count()
    stack.start_worker(concurrency=2)
    recovered = stack.wait_for(sent(100), 120, "all 100 sent after the restart")

    per_ref = stack.fortytwo.requests_per_ref()
    assert set(per_ref) == set(ids)  # none lost
    assert stack.fortytwo.sms_sent == 100  # none texted twice
    assert Verification.objects.filter(status="pending", sends_done=1).count() == 100
    repeated = sum(count - 1 for count in per_ref.values())
    numbers(
        f"SIGKILL after {texted_at_kill} SMS ({recorded_at_kill} recorded); restarted worker "
        f"finished all 100 in {recovered:.2f} s; {repeated} sends repeated after redelivery, "
        f"answered -52 (already sent) and counted as sent; SMS texted "
        f"{stack.fortytwo.sms_sent} for 100 verifications"
    )


def test_provider_faults_end_in_retries_then_a_definite_state(stack, numbers):
    fake = stack.fortytwo
    down = {phone(i).lstrip("+") for i in range(5)}  # five numbers Fortytwo always fails
    fake.failing_phones = down
    fake.fail_next = [500, "garbage", 503, "garbage", -65, 429, 500, "garbage"]
    fake.slow_next = [0, 0, 0, 0, 0, 0, 0, 0, 4.5, 4.5]  # two answers past our read timeout
    retries = 3
    stack.start(
        concurrency=4,
        PHONE_VERIFY_TEST_OVERRIDES={
            "SEND_MAX_RETRIES": retries,
            "RETRY_BACKOFF_MAX": 0.5,
            # Short enough for the slow answers above to time out, long enough for the checks
            # (Fortytwo validates each code) on a machine busy with other test runs.
            "HTTP_TIMEOUT": [2, 2],
        },
    )
    ids = stack.create(30)

    def settled() -> bool:
        for verification_id in ids:  # the API is asked all along: never a 500
            assert stack.call("GET", f"{verification_id}/").status_code == 200
        return (
            Verification.objects.filter(sends_done=1).count()
            + Verification.objects.filter(status="failed").count()
            == 30
        )

    took = stack.wait_for(settled, 120, "30 verifications settled")
    failed = Verification.objects.filter(status="failed")
    out = [i for i in ids if i not in {str(v.pk) for v in failed}]
    checked = stack.check_all(out, fake.code_for)

    assert {v.phone_number.lstrip("+") for v in failed} == down
    assert {v.reason for v in failed} == {"provider_unavailable"}
    assert [answer.get("status", answer) for answer in checked] == ["verified"] * 25
    per_ref = fake.requests_per_ref()
    assert [per_ref[str(v.pk)] for v in failed] == [retries + 1] * 5
    assert fake.sms_sent == 25
    events = DeliveryEvent.objects.filter(kind="send", verification__in=failed)
    assert {(e.status, e.provider_status) for e in events} == {("failed", "http_500")}
    numbers(
        f"30 verifications, {len(fake.fail_next)} faults left unused of 8 planned + 2 slow "
        f"answers + 5 numbers always failing: settled in {took:.2f} s; 25 texted once each and "
        f"verified, 5 failed (provider_unavailable) after {retries + 1} tries each; "
        f"{sum(per_ref.values())} code requests in all; API answers by status "
        f"{dict(sorted(stack.statuses.items()))}"
    )


def test_a_send_past_the_soft_time_limit_is_retried_and_texts_once(stack, numbers):
    stack.fortytwo.slow_next = [4.0]  # the first request hangs past the task's soft limit
    stack.start(
        concurrency=1,
        PHONE_VERIFY_TEST_OVERRIDES={"HTTP_TIMEOUT": [1, 30], "RETRY_BACKOFF_MAX": 0.5},
        CELERY_TEST_ANNOTATIONS={
            "phone_verify.tasks.send_code": {"soft_time_limit": 1, "time_limit": 20}
        },
    )
    (verification_id,) = stack.create(1)

    took = stack.wait_for(sent(1), 60, "the code sent")

    assert stack.fortytwo.requests_per_ref() == {verification_id: 2}
    assert stack.fortytwo.sms_sent == 1
    stack.worker.wait_for(r"(?i)soft time limit", timeout=10)  # the worker says why it retried
    numbers(f"soft limit 1 s hit on a 4 s answer; sent after the retry in {took:.2f} s; 1 SMS")


def test_failover_from_an_unreachable_primary_to_a_working_fallback(stack, numbers):
    telesign = FakeTeleSign()
    with running(telesign) as telesign_url:
        stack.start(
            concurrency=4,
            FORTYTWO_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens: refused
            PHONE_VERIFY_FALLBACK_PROVIDERS="telesign",
            TELESIGN_URL=telesign_url,
            TELESIGN_CUSTOMER_ID=CUSTOMER_ID,
            TELESIGN_API_KEY=API_KEY,
            PHONE_VERIFY_TEST_OVERRIDES={"SEND_MAX_RETRIES": 2, "RETRY_BACKOFF_MAX": 0.3},
        )
        ids = stack.create(20)
        took = stack.wait_for(sent(20), 60, "20 codes sent by the fallback")
        by_phone = {sms.phone: sms.code for sms in telesign.sms.values()}
        number_of = {str(v.pk): v.phone_number for v in Verification.objects.all()}
        checked = stack.check_all(ids, lambda i: by_phone[number_of[i].lstrip("+")])

    assert [answer["status"] for answer in checked] == ["verified"] * 20
    assert set(Verification.objects.values_list("provider", flat=True)) == {"telesign"}
    sends = [r for r in telesign.requests if r.method == "POST"]
    assert len(sends) == 20
    assert all("is_primary=false" in r.body.decode() for r in sends)
    failovers = DeliveryEvent.objects.filter(provider="fortytwo", kind="send")
    assert failovers.count() == 20
    assert {e.details["failover_to"] for e in failovers} == {"telesign"}
    checks = [r for r in telesign.requests if r.method == "GET" and "verify_code=" in r.query]
    assert len(checks) == 20  # checks went to the provider that sent the code
    numbers(
        f"primary refused (connection refused, 3 tries each): 20 verifications failed over to "
        f"TeleSign and sent in {took:.2f} s; 20 sends with is_primary=false; 20 checks at "
        f"TeleSign, 20 verified"
    )


# --- the send outbox: the database, not the broker, is the record of sends owed --------------


def test_a_broker_down_when_codes_are_asked_for_loses_none_of_them(stack, numbers):
    port = free_port()
    broker = start_redis(port)
    stack.start(worker=False, CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    # One code asked for while the broker is up warms the server's create path; the broker
    # then goes down with its message (it keeps nothing on disk): that code is owed too.
    (warm_up,) = stack.create(1)
    broker.stop()

    answers = [
        stack.call("POST", "", json={"phone_number": phone(i), "consents": {"sms": True}})
        for i in range(1, 21)
    ]
    times = [answer.elapsed.total_seconds() for answer in answers]
    assert [answer.status_code for answer in answers] == [201] * 20
    assert max(times) < 0.2, times  # the fast path fails fast: no retry loop in the request
    assert stack.fortytwo.sms_sent == 0
    ids = {warm_up} | {answer.json()["id"] for answer in answers}

    broker = start_redis(port)  # the broker is back, with none of the messages
    try:
        back = time.monotonic()
        stack.start_worker(concurrency=2, beat=True)
        took = stack.wait_for(sent(21), 60, "21 codes sent once the broker is back")
        took_from_back = time.monotonic() - back
    finally:
        broker.stop()

    assert set(stack.fortytwo.requests_per_ref()) == ids
    assert set(stack.fortytwo.requests_per_ref().values()) == {1}  # each exactly once
    assert stack.fortytwo.sms_sent == 21
    assert not Verification.objects.filter(send_due_at__isnull=False).exists()
    numbers(
        f"broker down: 20 creates answered 201 in {min(times) * 1000:.0f}-"
        f"{max(times) * 1000:.0f} ms; broker back: those 20 and 1 lost with the broker all sent "
        f"{took:.1f} s after the worker with the dispatcher was ready ({took_from_back:.1f} s "
        f"after the broker), each once"
    )


def test_a_worker_killed_with_sends_in_flight_on_redis_loses_none(stack, numbers):
    # The example project's Redis transport options: a killed worker's messages come back only
    # after the visibility timeout (minutes). The dispatcher must not wait for that.
    stack.fortytwo.latency = 1.0
    stack.start(concurrency=4, beat=True)
    ids = stack.create(20)
    stack.wait_for(lambda: len(stack.fortytwo.requests_per_ref()) >= 4, 30, "sends in flight")

    stack.worker.kill()
    killed = time.monotonic()
    reached_at_kill = len(stack.fortytwo.requests_per_ref())
    recorded_at_kill = Verification.objects.filter(sends_done=1).count()
    assert recorded_at_kill < reached_at_kill  # some requests were in flight
    stack.start_worker(concurrency=4, beat=True)
    stack.wait_for(sent(20), 90, "all 20 sent after the kill")
    delay = time.monotonic() - killed

    per_ref = stack.fortytwo.requests_per_ref()
    assert set(per_ref) == set(ids)  # every code reached the provider
    assert stack.fortytwo.sms_sent == 20  # none texted twice (Fortytwo dedupes by client_ref)
    assert delay <= 60
    numbers(
        f"SIGKILL with {reached_at_kill - recorded_at_kill} sends in flight and "
        f"{20 - reached_at_kill} not started: every code reached the provider {delay:.1f} s "
        f"after the kill; {sum(per_ref.values()) - 20} requests repeated (answered -52), "
        f"SMS texted {stack.fortytwo.sms_sent} for 20"
    )
