#!/usr/bin/env python3
"""The deployed benchmark (run by hand; CI runs ``--quick``):

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/deployed.py [--duration 30] [--users 1 8 32] [--rounds 1] [--quick]
                                       [--profile DIR]

Each scenario is served as a site serves it: gunicorn (``2 x cores`` workers) on PostgreSQL
(``BENCH_PG``; a fresh database per scenario), for us a Celery worker (thread pool) on a real
broker (a private ``redis-server``, or RabbitMQ at ``BENCH_AMQP`` in a queue of its own) and the
Redis cache, and a fake provider process answering every call after ``--latency`` (150 ms).
Locust, headless, runs create -> code read from the fake -> check with a fixed number of users
for a fixed time. Ours and django-phone-verify (``bench/.venv-dpv``, an HTTP SMS backend calling
the same fake inside the request) alternate at each user count. Prints, per scenario, p50 / p95 /
p99 of create and check, flows per second, errors, CPU seconds per flow of each process group
and how busy the machine's CPUs were; then the Markdown tables of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # locust's dependency: CPU time of each process tree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from run import DB_PREFIX, DPV_PYTHON, PG, ensure_dpv  # noqa: E402

AMQP = os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
CORES = os.cpu_count() or 1
SERVER_WORKERS = 2 * CORES
# docs/celery.md's pool for I/O-bound sends: threads, above the provider calls in flight.
WORKER_THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "16"))


@dataclass(frozen=True)
class Scenario:
    variant: str  # "ours" or "dpv"
    provider: str  # "telesign" (carries the code we make) or "fortytwo" (checks it itself)
    users: int
    server: str = "sync"  # gunicorn worker class: "sync" or "gthread"
    broker: str = "redis"  # "redis" or "rabbitmq" (ours only)

    def label(self) -> str:
        name = "django-phone-verify" if self.variant == "dpv" else f"ours ({self.broker})"
        return f"{name}, {self.provider}, {self.server}, {self.users} users"


@dataclass
class Result:
    scenario: Scenario
    stats: dict[str, dict[str, float]]
    flows_per_second: float
    errors: int
    cpu_per_flow_ms: dict[str, float]
    machine_busy: float
    sample_errors: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            cwd=HERE,
            env={**os.environ, "PYTHONPATH": f"{HERE}:{ROOT}", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children
        )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until(ready, what: str, process: subprocess.Popen, log: Path, timeout: float = 60):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if ready():
                return
        except OSError:
            pass
        time.sleep(0.1)
    stop(process)
    raise SystemExit(f"{what} did not start:\n{log.read_text()[-3000:]}")


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cpu_seconds(process: subprocess.Popen) -> float:
    """User + system CPU time of the process and its living children."""
    try:
        root = psutil.Process(process.pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
        return total
    except psutil.NoSuchProcess:
        return 0.0


def machine_cpu() -> tuple[float, float]:
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0)
    return sum(times) - idle, sum(times)


def rabbitmq_cleanup(queue: str) -> None:
    from kombu import Connection

    with Connection(AMQP) as conn:
        conn.default_channel.queue_delete(queue)


def profile(processes: dict[str, subprocess.Popen], seconds: float, into: Path | None) -> list:
    """py-spy recording the server's and the worker's processes (``--profile DIR``): only the
    samples of threads holding the GIL, that is running Python, not waiting on a socket or a
    database; a flame graph per group."""
    if into is None:
        return []
    into.mkdir(parents=True, exist_ok=True)
    spies = []
    for name in ("server", "worker"):
        if name in processes:
            args = [str(BIN / "py-spy"), "record", "--pid", str(processes[name].pid),
                    "--subprocesses", "--gil", "--nonblocking", "--rate", "200",
                    "--duration", str(max(1, int(seconds))), "--format", "flamegraph",
                    "--output", str(into / f"{name}.svg")]  # fmt: skip
            spies.append(
                subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    return spies


def run_scenario(
    s: Scenario,
    duration: float,
    latency: float,
    redis_port: int,
    work: Path,
    profile_into: Path | None = None,
) -> Result:
    log = work / f"{s.variant}-{s.provider}-{s.server}-{s.broker}-{s.users}.log"
    log.write_text("")
    db = fresh_database(f"{DB_PREFIX}_deployed_{s.variant}")
    database_url = f"{PG}/{db['NAME']}"
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    processes: dict[str, subprocess.Popen] = {}
    queue = f"phone_verify_bench_{uuid.uuid4().hex[:12]}"
    try:
        processes["fake provider"] = start(
            [str(BIN / "python"), "fake_provider.py", s.provider, str(fake_port), str(latency)],
            {},
            log,
        )
        wait_until(
            lambda: listening(fake_port), "the fake provider", processes["fake provider"], log
        )
        port = free_port()
        if s.variant == "ours":
            env = ours_environment(s, database_url, fake_url, redis_port, queue)
            subprocess.run(
                [str(BIN / "python"), str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
                cwd=ROOT,
                env={**os.environ, **env},
                check=True,
            )
            processes["worker"] = start(
                [
                    str(BIN / "celery"), "-A", "example_project", "worker", "--pool=threads",
                    f"--concurrency={WORKER_THREADS}", f"--queues={queue}",
                    f"--hostname={queue}@bench", "--loglevel=WARNING",
                    "--without-heartbeat", "--without-gossip", "--without-mingle",
                ],
                env,
                log,
            )  # fmt: skip
            python, app = BIN, "example_project.wsgi:application"
        else:
            env = {
                "DJANGO_SETTINGS_MODULE": "dpv_settings",
                "PYTHONPATH": str(HERE),  # not the repository: our app has the same import name
                "BENCH_DATABASE": json.dumps(db),
                "BENCH_DPV_BACKEND": "dpv_http_backend.HttpBackend",
                "BENCH_PROVIDER_URL": fake_url,
                "CONN_MAX_AGE": "60",
            }
            subprocess.run(
                [str(DPV_PYTHON), "-c", "import django; django.setup(); from django.core."
                 "management import call_command; call_command('migrate', verbosity=0)"],
                cwd=HERE,
                env={**os.environ, **env},
                check=True,
            )  # fmt: skip
            python, app = DPV_PYTHON.parent, "django.core.wsgi:get_wsgi_application()"
        threads = ["--threads", "8"] if s.server == "gthread" else []
        processes["server"] = start(
            [
                str(python / "gunicorn"), app, "--bind", f"127.0.0.1:{port}",
                "--workers", str(SERVER_WORKERS), "--worker-class", s.server, *threads,
                "--log-level", "warning", "--timeout", "60",
            ],
            env,
            log,
        )  # fmt: skip
        wait_until(lambda: listening(port), "gunicorn", processes["server"], log)
        if "worker" in processes:
            wait_until(lambda: worker_ready(env["CELERY_BROKER_URL"], f"{queue}@bench"),
                       "the worker", processes["worker"], log)  # fmt: skip
        warm_up(s.variant, f"http://127.0.0.1:{port}")
        csv_prefix = work / "locust"
        cpu_before = {name: cpu_seconds(p) for name, p in processes.items()}
        busy_before = machine_cpu()
        locust = start(
            [
                str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless",
                "--users", str(s.users), "--spawn-rate", str(s.users), "--run-time",
                f"{duration:g}s", "--host", f"http://127.0.0.1:{port}", "--csv", str(csv_prefix),
                "--reset-stats", "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10",
            ],
            {"BENCH_VARIANT": s.variant, "BENCH_PROVIDER_URL": fake_url},
            log,
        )  # fmt: skip
        processes["locust"] = locust
        spies = profile(processes, duration - 2, profile_into and profile_into / log.stem)
        cpu_before["locust"] = 0.0
        cpu_locust = 0.0
        while locust.poll() is None:  # its CPU time is lost once it exits
            cpu_locust = cpu_seconds(locust) or cpu_locust
            time.sleep(0.2)
        cpu_after = {name: cpu_seconds(p) for name, p in processes.items()}
        for spy in spies:
            spy.wait()
        cpu_after["locust"] = cpu_locust
        busy_after = machine_cpu()
        stats = read_stats(csv_prefix)
        check = stats.get("check", {})
        flows_per_second = check.get("rps", 0.0) * (1 - check.get("failure_ratio", 0.0))
        flows = max(1.0, flows_per_second * duration)
        errors = sum(int(row["failures"]) for row in stats.values())
        busy = (busy_after[0] - busy_before[0]) / max(1e-9, busy_after[1] - busy_before[1])
        return Result(
            s,
            stats,
            flows_per_second,
            errors,
            {n: (cpu_after[n] - cpu_before[n]) * 1000 / flows for n in cpu_after},
            busy,
            read_failures(csv_prefix),
        )
    finally:
        for process in reversed(processes.values()):
            stop(process)
        if s.broker == "rabbitmq" and s.variant == "ours":
            rabbitmq_cleanup(queue)


def warm_up(variant: str, url: str) -> None:
    """Requests to every server worker before the measure: each loads Django's URLs, views and
    serializers on its first request (seconds on this machine), which no site sees twice."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    def hit(i: int) -> None:
        phone = f"+336{20_000_000 + i:08d}"  # a range the load does not reach
        if variant == "ours":
            base = f"{url}/api/phone-verify/verifications/"
            body = {"phone_number": phone, "consents": {"sms": True}}
            created = requests.post(base, json=body, timeout=60).json()
            assert "id" in created, created
            requests.post(f"{base}{created['id']}/check/", json={"code": "000"}, timeout=60)
        else:
            created = requests.post(f"{url}/api/phone/register", json={"phone_number": phone},
                                    timeout=60).json()  # fmt: skip
            body = {"phone_number": phone, "session_token": created["session_token"],
                    "security_code": "000"}  # fmt: skip
            requests.post(f"{url}/api/phone/verify", json=body, timeout=60)

    with ThreadPoolExecutor(2 * SERVER_WORKERS) as pool:
        list(pool.map(hit, range(6 * SERVER_WORKERS)))


def fresh_database(name: str) -> dict:
    import psycopg

    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    user, host_port = PG.split("://", 1)[1].split("@")
    host, port = host_port.split(":")
    return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": user,
            "HOST": host, "PORT": port}  # fmt: skip


def worker_ready(broker: str, name: str) -> bool:
    from celery import Celery

    app = Celery(broker=broker)
    try:
        return bool(app.control.ping(destination=[name], timeout=1))
    finally:
        app.close()


def ours_environment(
    s: Scenario, database_url: str, fake_url: str, redis_port: int, queue: str
) -> dict[str, str]:
    redis = f"redis://127.0.0.1:{redis_port}"
    from tests.fake_telesign import API_KEY, CUSTOMER_ID

    return {
        "DJANGO_SETTINGS_MODULE": "settings_deployed",
        "PYTHONPATH": f"{HERE}:{ROOT}",
        "DEBUG": "False",
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "60",
        "PHONE_VERIFY_CONSENT_KEY": "YmVuY2gtb25seS1jb25zZW50LXNpZ25pbmcta2V5MzI=",
        "CACHE_URL": f"{redis}/1",
        "CELERY_BROKER_URL": f"{redis}/0" if s.broker == "redis" else AMQP,
        "BENCH_QUEUE": queue,
        "PHONE_VERIFY_PROVIDER": s.provider,
        "PHONE_VERIFY_PUBLIC_URL": "http://127.0.0.1:9",
        "PHONE_VERIFY_WEBHOOK_SECRET": "bench-callback-secret-0123456789",
        "TELESIGN_URL": fake_url,
        "TELESIGN_CUSTOMER_ID": CUSTOMER_ID,
        "TELESIGN_API_KEY": API_KEY,
        "TELESIGN_CODE_MODE": "local",
        "FORTYTWO_URL": fake_url,
        "FORTYTWO_TOKEN": "TEST-TOKEN",
    }


def read_stats(prefix: Path) -> dict[str, dict[str, float]]:
    rows = {}
    with open(f"{prefix}_stats.csv", newline="") as file:
        for row in csv.DictReader(file):
            count = int(row["Request Count"])
            rows[row["Name"]] = {
                "count": count,
                "failures": int(row["Failure Count"]),
                "failure_ratio": int(row["Failure Count"]) / count if count else 0.0,
                "rps": float(row["Requests/s"]),
                **{f"p{q}": number(row[f"{q}%"]) for q in (50, 95, 99)},
            }
    rows.pop("Aggregated", None)
    return rows


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:  # "N/A": no request of that name
        return 0.0


def read_failures(prefix: Path) -> list[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(newline="") as file:
        return [
            f"{r['Name']}: {r['Error'][:160]} (x{r['Occurrences']})" for r in csv.DictReader(file)
        ][:5]


def print_result(r: Result) -> None:
    def q(name: str) -> str:
        row = r.stats.get(name, {})
        return f"{row.get('p50', 0):.0f}/{row.get('p95', 0):.0f}/{row.get('p99', 0):.0f}"

    cpu = ", ".join(f"{n} {ms:.1f}" for n, ms in r.cpu_per_flow_ms.items())
    print(
        f"{r.scenario.label()}: {r.flows_per_second:.1f} flows/s, create p50/p95/p99 "
        f"{q('create')} ms, check {q('check')} ms, code arrival {q('code arrival')} ms, "
        f"errors {r.errors}; CPU ms per flow: {cpu}; machine CPU busy {r.machine_busy:.0%}",
        flush=True,
    )
    for failure in r.sample_errors:
        print(f"    {failure}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=30, help="seconds per scenario")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.150, help="the fake provider's")
    parser.add_argument("--quick", action="store_true", help="a smoke run of every part")
    parser.add_argument("--profile", type=Path, help="py-spy flame graphs into this directory")
    args = parser.parse_args()
    # A SIGTERM unwinds like an error: every process started is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))
    if args.quick:  # every part once, briefly: the server, both brokers, both providers, dpv
        args.duration, args.users, args.rounds = 3, [1], 1
    ensure_dpv()
    sys.path.insert(0, str(ROOT))
    from tests.processes import start_redis

    redis_port = free_port()
    redis_server = start_redis(redis_port)
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="phone-verify-bench-") as tmp:
            work = Path(os.environ.get("BENCH_LOGS") or tmp)  # each scenario's process logs
            work.mkdir(parents=True, exist_ok=True)
            plan: list[Scenario] = []
            for _ in range(args.rounds):
                for users in args.users:  # ours and django-phone-verify side by side
                    plan += [
                        Scenario("ours", "telesign", users),
                        Scenario("dpv", "telesign", users),
                    ]
            top = max(args.users)
            if args.quick:  # the parts left: RabbitMQ, a provider that checks, gthread
                plan += [Scenario("ours", "fortytwo", top, server="gthread", broker="rabbitmq")]
            else:  # the other broker; the worker classes compared on both kinds of provider
                plan += [
                    Scenario("ours", "telesign", top, broker="rabbitmq"),
                    Scenario("ours", "fortytwo", top, server="sync"),
                    Scenario("ours", "fortytwo", top, server="gthread"),
                    Scenario("ours", "telesign", top, server="gthread"),
                    Scenario("dpv", "telesign", top, server="gthread"),
                ]
            for scenario in plan:
                import redis

                redis.Redis(port=redis_port).flushall()
                result = run_scenario(
                    scenario, args.duration, args.latency, redis_port, work, args.profile
                )
                print_result(result)
                results.append(result)
    finally:
        redis_server.stop()
    report(results)
    if any(r.errors for r in results) or any(r.flows_per_second == 0 for r in results):
        sys.exit("errors in the run, or a scenario without a single flow: see above")


def report(results: list[Result]) -> None:
    print("\n| scenario | flows/s | create p50 / p95 / p99 ms | check p50 / p95 / p99 ms "
          "| code arrival p50 ms | errors | machine CPU busy |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in results:

        def q(name: str, r: Result = r) -> str:
            row = r.stats.get(name, {})
            return f"{row.get('p50', 0):.0f} / {row.get('p95', 0):.0f} / {row.get('p99', 0):.0f}"

        print(
            f"| {r.scenario.label()} | {r.flows_per_second:.1f} | {q('create')} | {q('check')} "
            f"| {r.stats.get('code arrival', {}).get('p50', 0):.0f} | {r.errors} "
            f"| {r.machine_busy:.0%} |"
        )
    groups = ["server", "worker", "fake provider", "locust"]
    print("\n| scenario | CPU ms per flow: " + " | ".join(groups) + " |")
    print("|---|" + "---|" * len(groups))
    for r in results:
        cells = [f"{r.cpu_per_flow_ms[g]:.1f}" if g in r.cpu_per_flow_ms else "-" for g in groups]
        print(f"| {r.scenario.label()} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
