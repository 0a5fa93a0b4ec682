"""The send outbox: every send a service decides is owed in the database until a provider took
it, and the dispatcher hands it over again when the broker lost it (issue: no code lost)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from phone_verify import checks, jobs, services
from phone_verify import outbox as send_outbox
from phone_verify.models import DeliveryEvent, Verification

PHONE = "+33612345678"


class Broker:
    """Stands for the broker behind ``jobs``: down (refuses every job) or up (runs them)."""

    def __init__(self, real_runner: Any) -> None:
        self.real_runner = real_runner
        self.down = False
        self.handed: list[tuple[str, tuple[Any, ...]]] = []
        self.lock = threading.Lock()

    def __call__(self, job: str, args: tuple[Any, ...]) -> None:
        if self.down:
            raise ConnectionRefusedError("broker down")
        with self.lock:
            self.handed.append((job, args))
        if self.real_runner is not None:
            self.real_runner(job, args)


@pytest.fixture
def broker() -> Any:
    real = jobs._runner
    broker = Broker(real)
    jobs.set_runner(broker)
    yield broker
    jobs.set_runner(real)


def make_verifications(count: int, now: Any, *, first: int = 0, **fields: Any) -> None:
    """``count`` verifications (numbers ``first`` on) whose code is valid for 5 more minutes."""
    Verification.objects.bulk_create(
        Verification(
            phone_number=f"+336{i:08d}",
            country="FRA",
            provider="console",
            expires_at=now + dt.timedelta(minutes=5),
            **fields,
        )
        for i in range(first, first + count)
    )


def owed() -> list[tuple[int, int]]:
    return list(
        Verification.objects.filter(send_due_at__isnull=False).values_list("sends", "sends_done")
    )


@pytest.fixture
def dispatch_at(django_capture_on_commit_callbacks: Any) -> Any:
    """``dispatch_at(21)``: one dispatcher pass 21 s from now, its hand-overs run on commit."""

    def run(seconds_later: float) -> send_outbox.DispatchPass:
        with (
            time_machine.travel(timezone.now() + dt.timedelta(seconds=seconds_later)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            return send_outbox.dispatch_due_sends()

    return run


def test_a_send_refused_by_the_broker_is_owed_then_dispatched_once(
    api, outbox, broker, caplog, dispatch_at
):
    broker.down = True
    answer = api.start(PHONE)

    assert answer.status_code == 201  # the broker is not the record of work to do
    assert len(outbox) == 0 and owed() == [(1, 0)]
    assert "not handed to the queue" in caplog.text
    broker.down = False
    assert dispatch_at(19) == send_outbox.DispatchPass(0, 0)  # not before SEND_REDISPATCH_AFTER

    assert dispatch_at(21) == send_outbox.DispatchPass(handed=1, skipped=0)

    assert len(outbox) == 1 and owed() == []
    assert dispatch_at(60) == send_outbox.DispatchPass(0, 0)  # handed once, done: nothing more
    assert api.check(answer.json()["id"], outbox.last_code(PHONE)).status_code == 200


def test_a_resend_during_an_outage_is_owed_too(api, outbox, broker, dispatch_at):
    verification_id = api.start(PHONE).json()["id"]
    broker.down = True
    Verification.objects.update(last_sent_at=timezone.now() - dt.timedelta(seconds=31))

    assert api.post(f"verifications/{verification_id}/resend/").status_code == 202

    assert len(outbox) == 1 and owed() == [(2, 1)]
    broker.down = False
    assert dispatch_at(21).handed == 1
    assert len(outbox) == 2 and owed() == []
    assert api.check(verification_id, outbox.last_code(PHONE)).status_code == 200


def test_an_owed_send_whose_code_expired_texts_nothing_and_says_why(
    api, outbox, broker, dispatch_at
):
    broker.down = True
    api.start(PHONE)
    broker.down = False

    assert dispatch_at(301) == send_outbox.DispatchPass(handed=0, skipped=1)  # CODE_LIFETIME is 300

    assert len(outbox) == 0 and owed() == []
    event = DeliveryEvent.objects.get()
    assert (event.kind, event.provider_status) == ("skipped", "expired")
    assert event.details == {"send_number": 1, "reason": "expired"}


def test_a_send_task_run_after_its_code_expired_texts_nothing_and_says_why(api, outbox, broker):
    broker.down = True
    verification_id = api.start(PHONE).json()["id"]
    broker.down = False

    with time_machine.travel(timezone.now() + dt.timedelta(seconds=301)):
        services.deliver_code(verification_id, 1)  # a message the broker kept for too long

    assert len(outbox) == 0 and owed() == []
    assert DeliveryEvent.objects.get().provider_status == "expired"


def test_a_send_superseded_by_a_resend_texts_nothing_and_says_why(api, outbox, broker, dispatch_at):
    broker.down = True
    verification_id = api.start(PHONE).json()["id"]
    Verification.objects.update(last_sent_at=timezone.now() - dt.timedelta(seconds=31))
    assert api.post(f"verifications/{verification_id}/resend/").status_code == 202
    broker.down = False

    services.deliver_code(verification_id, 1)  # send 1's message, handed over late

    assert len(outbox) == 0 and owed() == [(2, 0)]  # send 2 is still owed
    event = DeliveryEvent.objects.get()
    assert (event.kind, event.provider_status, event.details["send_number"]) == (
        "skipped",
        "superseded",
        1,
    )
    assert dispatch_at(21).handed == 1  # send 2 goes out, once
    assert len(outbox) == 1
    assert api.check(verification_id, outbox.last_code(PHONE)).status_code == 200


def test_a_send_for_a_closed_verification_texts_nothing_and_says_why(api, outbox, broker):
    broker.down = True
    verification_id = api.start(PHONE).json()["id"]
    broker.down = False
    Verification.objects.update(status="failed", reason="too_many_attempts")

    services.deliver_code(verification_id, 1)

    assert len(outbox) == 0
    assert DeliveryEvent.objects.get().provider_status == "closed"


def test_a_message_delivered_twice_texts_once(api, outbox):
    verification_id = api.start(PHONE).json()["id"]

    services.deliver_code(verification_id, 1)  # the broker redelivers the same message

    assert len(outbox) == 1
    assert not DeliveryEvent.objects.filter(kind="skipped").exists()


def test_a_send_retried_later_is_left_to_its_retry(api, broker, dispatch_at):
    broker.down = True
    verification_id = api.start(PHONE).json()["id"]
    broker.down = False

    send_outbox.postpone(verification_id, 120)  # the send task will try again in 2 minutes

    assert dispatch_at(21).handed == 0
    assert dispatch_at(141).handed == 1


def test_the_dispatcher_cost_does_not_grow_with_finished_verifications(
    db, broker, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    broker.real_runner = None  # count hand-overs only
    now = timezone.now()
    make_verifications(10, now, send_due_at=now - dt.timedelta(seconds=1))
    with (
        django_assert_max_num_queries(14) as few,  # select, claim (per row on SQLite)
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert send_outbox.dispatch_due_sends(now=now).handed == 10
    Verification.objects.update(send_due_at=now - dt.timedelta(seconds=1))
    make_verifications(10_000, now, first=10, status="verified", sends_done=1)

    with (
        django_assert_max_num_queries(len(few.captured_queries)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert send_outbox.dispatch_due_sends(now=now).handed == 10
    assert len(broker.handed) == 20


@pytest.mark.postgres
def test_the_dispatchers_query_uses_the_outbox_index(db):
    now = timezone.now()
    make_verifications(10, now, send_due_at=now)
    make_verifications(10_000, now, first=10, status="verified", sends_done=1)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE phone_verify_verification")

    plan = send_outbox.due_sends(now).select_for_update(skip_locked=True)[:100].explain()

    assert "pv_verif_send_due" in plan, plan


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_hand_each_send_over_exactly_once(broker, numbers):
    broker.real_runner = None
    now = timezone.now()
    make_verifications(200, now, send_due_at=now - dt.timedelta(seconds=1))
    start = threading.Barrier(2)
    passes: list[send_outbox.DispatchPass] = []

    def dispatcher() -> None:
        try:
            start.wait()
            passes.append(send_outbox.dispatch_due_sends(batch_size=10, now=now))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    per_send = Counter(args for job, args in broker.handed)
    assert len(per_send) == 200 and set(per_send.values()) == {1}
    assert sum(p.handed for p in passes) == 200
    numbers(f"two dispatchers over 200 owed sends: {sorted(p.handed for p in passes)} handed")


def test_the_command_runs_one_pass(api, outbox, broker, capsys, django_capture_on_commit_callbacks):
    broker.down = True
    api.start(PHONE)
    broker.down = False

    with (
        time_machine.travel(timezone.now() + dt.timedelta(seconds=21)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("phone_verify_dispatch")

    assert "Handed over 1 owed sends; skipped 0." in capsys.readouterr().out
    assert len(outbox) == 1


def test_a_stalled_outbox_is_a_check_warning_and_shows_in_the_admin(api, broker, staff_client):
    broker.down = True
    api.start(PHONE)
    assert checks.check_outbox(databases=["default"]) == []

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=6)):
        (warning,) = checks.check_outbox(databases=["default"])
        assert checks.check_outbox() == []  # a database check: only with --database
        pages = [
            staff_client.get(url).content.decode()
            for url in (
                "/admin/phone_verify/verification/",
                "/admin/phone_verify/verification/funnel/",
            )
        ]

    assert warning.id == "phone_verify.W016" and "dispatcher" in warning.msg
    for html in pages:
        assert 'data-outbox-backlog="1"' in html
        assert "1 send owed and not yet handed to a provider" in html
        assert "6\xa0minutes ago" in html
