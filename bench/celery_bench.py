"""The worker side: N sends through a real Celery worker (a private Redis broker, PostgreSQL)
to the fake Fortytwo answering after LATENCY seconds, against the two bounds on its rate:

- latency: CONCURRENCY sends in flight, each waiting LATENCY, make at most
  CONCURRENCY / LATENCY sends per second;
- CPU: the worker's own CPU time per send (user + system, all its processes) on the machine's
  cores makes at most CORES / cpu_per_send, however much concurrency there is.

    python bench/celery_bench.py [N] [--pool threads|prefork] [--concurrency 16] [--latency 0.15]

Prints one JSON line: sends per second, both bounds, the ratio to the lower one, the most
database connections the worker held at once and how many it opened, SMS texted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import DB_PREFIX, PG  # noqa: E402

DB = f"{DB_PREFIX}_celery"
CORES = os.cpu_count() or 1


def cpu_seconds(pid: int) -> float:
    import psutil

    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sends", type=int, nargs="?", default=400)
    parser.add_argument("--pool", default="threads", choices=["threads", "prefork"])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.150)
    args = parser.parse_args()

    import psycopg

    from tests.fake_fortytwo import FakeFortytwo
    from tests.fake_server import running
    from tests.processes import Process, free_port, manage, start_redis

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    redis_port = free_port()
    redis_server = start_redis(redis_port)
    fake = FakeFortytwo(token="BENCH", latency=args.latency)
    try:
        with running(fake) as fake_url:
            env = {
                "DJANGO_SETTINGS_MODULE": "tests.worker_settings",
                "DEBUG": "False",
                "DATABASE_URL": f"{PG}/{DB}",
                "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
                "PHONE_VERIFY_PROVIDER": "fortytwo",
                "FORTYTWO_URL": fake_url,
                "FORTYTWO_TOKEN": "BENCH",
                "PHONE_VERIFY_WEBHOOK_SECRET": "bench-callback-secret-0123456789",
                "CONN_MAX_AGE": "60",
                "PHONE_VERIFY_CONSENT_KEY": "YmVuY2gtb25seS1jb25zZW50LXNpZ25pbmcta2V5MzI=",
            }
            manage(env, "migrate", "--noinput")
            os.environ.update(env)
            import django

            django.setup()
            from django.db import transaction

            from phone_verify import services
            from phone_verify.models import Verification

            worker = Process(
                ["-m", "celery", "-A", "example_project", "worker", f"--pool={args.pool}",
                 f"--concurrency={args.concurrency}", "--loglevel=INFO", "--without-heartbeat",
                 "--without-gossip", "--without-mingle"],
                env,
            )  # fmt: skip
            try:
                worker.wait_for(r"ready\.", timeout=60)
                connections = ConnectionCount()
                with transaction.atomic():  # every send is enqueued at the commit, at once
                    for i in range(args.sends):
                        services.start_verification(
                            f"+336{20_000_000 + i:08d}", consents={"sms": True}
                        )
                cpu_before = cpu_seconds(worker.popen.pid)
                start = time.perf_counter()
                while Verification.objects.filter(sends_done=1).count() < args.sends:
                    time.sleep(0.02)
                elapsed = time.perf_counter() - start
                cpu = cpu_seconds(worker.popen.pid) - cpu_before
                connections.stop()
            finally:
                worker.stop()
    finally:
        redis_server.stop()
    throughput = args.sends / elapsed
    latency_bound = args.concurrency / args.latency
    cpu_bound = CORES / (cpu / args.sends)
    print(
        json.dumps(
            {
                "pool": args.pool,
                "concurrency": args.concurrency,
                "latency": args.latency,
                "sends": args.sends,
                "seconds": elapsed,
                "sends_per_second": throughput,
                "latency_bound": latency_bound,
                "worker_cpu_ms_per_send": cpu * 1000 / args.sends,
                "cpu_bound": cpu_bound,
                "ratio": throughput / min(latency_bound, cpu_bound),
                "bound_by": "latency" if latency_bound <= cpu_bound else "CPU",
                "max_database_connections": connections.most,
                "database_sessions_opened": connections.opened,
                "sms_texted": fake.sms_sent,
            }
        )
    )


class ConnectionCount:
    """The most connections to the benchmark's database at once (the worker's: the benchmark's
    own is one of them), sampled every 50 ms."""

    def __init__(self) -> None:
        import psycopg

        self.most = 0
        self.opened = 0
        self._done = threading.Event()
        self._conn = psycopg.connect(f"{PG}/postgres", autocommit=True)
        self._sessions_before = self._sessions()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sessions(self) -> int:
        """Sessions ever opened on the database (PostgreSQL 14+)."""
        return self._conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = %s", [DB]
        ).fetchone()[0]

    def _sample(self) -> None:
        while not self._done.wait(0.05):
            (count,) = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [DB]
            ).fetchone()
            self.most = max(self.most, count)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self._conn.execute("SELECT pg_stat_clear_snapshot()")
        self.opened = self._sessions() - self._sessions_before
        self._conn.close()


if __name__ == "__main__":
    main()
