"""Celery throughput against the latency-bound limit: N sends through a real prefork worker
(Redis broker, PostgreSQL) to the fake Fortytwo answering after LATENCY seconds.

The limit: CONCURRENCY worker processes each waiting LATENCY per send can do at most
CONCURRENCY / LATENCY sends per second. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = int(sys.argv[1]) if len(sys.argv) > 1 else 400
CONCURRENCY = 4
LATENCY = 0.020
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = "phone_verify_bench_celery"
BROKER = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/14")


def main() -> None:
    import psycopg
    import redis

    from tests.fake_fortytwo import FakeFortytwo
    from tests.fake_server import running
    from tests.processes import manage, start_worker

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    redis.Redis.from_url(BROKER).flushdb()
    fake = FakeFortytwo(token="BENCH", latency=LATENCY)
    with running(fake) as fake_url:
        env = {
            "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
            "DEBUG": "False",
            "DATABASE_URL": f"{PG}/{DB}",
            "CELERY_BROKER_URL": BROKER,
            "PHONE_VERIFY_PROVIDER": "fortytwo",
            "FORTYTWO_URL": fake_url,
            "FORTYTWO_TOKEN": "BENCH",
            "PHONE_VERIFY_WEBHOOK_SECRET": "bench-callback-secret-0123456789",
            "CONN_MAX_AGE": os.environ.get("BENCH_CONN_MAX_AGE", "60"),
        }
        manage(env, "migrate", "--noinput")
        os.environ.update(env)
        import django

        django.setup()
        from django.db import transaction

        from phone_verify import services
        from phone_verify.models import Verification

        worker = start_worker(env, concurrency=CONCURRENCY)
        try:
            with transaction.atomic():  # every send is enqueued at the commit, at once
                for i in range(N):
                    services.start_verification(f"+336{20_000_000 + i:08d}", consents={"sms": True})
            start = time.perf_counter()
            while Verification.objects.filter(sends_done=1).count() < N:
                time.sleep(0.02)
            elapsed = time.perf_counter() - start
        finally:
            worker.stop()
    task_times = [
        float(m.group(1))
        for line in worker.output
        if (m := re.search(r"send_code\[.*\] succeeded in ([\d.]+)s", line))
    ]
    throughput = N / elapsed
    limit = CONCURRENCY / LATENCY
    print(
        json.dumps(
            {
                "sends": N,
                "seconds": elapsed,
                "sends_per_second": throughput,
                "latency_bound_limit": limit,
                "ratio": throughput / limit,
                "sms_texted": fake.sms_sent,
                # Inside the worker process, per task, as Celery measures it.
                "median_task_seconds": statistics.median(task_times) if task_times else None,
            }
        )
    )


if __name__ == "__main__":
    main()
