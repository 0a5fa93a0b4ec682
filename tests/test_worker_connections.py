"""A Celery worker keeps its database connections as Django keeps a server's: reused while
CONN_MAX_AGE allows, closed after each task when it is 0. Celery's Django fixup alone would
close them around every task whatever CONN_MAX_AGE says (a new PostgreSQL connection per send:
BENCHMARKS.md); the example project sets CELERY_DB_REUSE_MAX and applies Django's rule itself.

A real worker (thread pool) on PostgreSQL and Redis sends 40 codes to the fake Fortytwo; the
sessions PostgreSQL opened on the test database while it did are counted.
"""

from __future__ import annotations

import base64
import time

import pytest
from django.db import connection

from phone_verify import jobs, services
from phone_verify.models import Verification

from .fake_fortytwo import FakeFortytwo
from .fake_server import running
from .processes import manage, process_database_url, redis_url, require_redis, start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.services, pytest.mark.django_db(transaction=True)]

SENDS = 40
THREADS = 4


def sessions_opened() -> int:
    time.sleep(1.5)  # backends report their statistics about once a second
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s",
            [connection.settings_dict["NAME"]],
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "conn_max_age, fewest, most",
    [("60", 1, THREADS + 3), ("0", SENDS, 10 * SENDS)],
    ids=["reused", "closed-after-each-task"],
)
def test_a_worker_keeps_database_connections_as_conn_max_age_says(
    monkeypatch: pytest.MonkeyPatch, conn_max_age: str, fewest: int, most: int
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")
    require_redis()
    monkeypatch.setattr(jobs, "_runner", lambda job, args: None)  # owed, not handed over yet
    for i in range(SENDS):
        # One number range each: the per-range limit is not what this test is about.
        services.start_verification(f"+336{30_000_000 + 1000 * i:08d}", consents={"sms": True})
    # Due now, to the provider the worker is set up with: the dispatcher hands them all over.
    Verification.objects.update(provider="fortytwo", send_due_at="2000-01-01T00:00:00Z")
    with running(FakeFortytwo(token="TOKEN")) as url:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "DEBUG": "False",
            "DATABASE_URL": process_database_url(),
            "CELERY_BROKER_URL": redis_url(),
            "PHONE_VERIFY_PROVIDER": "fortytwo",
            "FORTYTWO_URL": url,
            "FORTYTWO_TOKEN": "TOKEN",
            "PHONE_VERIFY_WEBHOOK_SECRET": "worker-connections-secret-012345",
            "CONN_MAX_AGE": conn_max_age,
            # DEBUG off: a real consent-signing key, as a deployment must have (phone_verify.E017).
            "PHONE_VERIFY_CONSENT_KEY": base64.b64encode(
                b"worker-connection-tests-key-0032"
            ).decode(),
        }
        worker = start_worker(env, concurrency=THREADS, pool_name="threads")
        try:
            before = sessions_opened()
            manage(env, "phone_verify_dispatch")  # one pass: all 40 sends to the broker
            deadline = time.monotonic() + 60
            while Verification.objects.filter(sends_done=1).count() < SENDS:
                assert time.monotonic() < deadline, "the worker did not send every code"
                time.sleep(0.1)
            opened = sessions_opened() - before
        finally:
            worker.stop()
    # The dispatcher's own process opens one; the worker at most one per thread.
    assert fewest <= opened <= most, opened
