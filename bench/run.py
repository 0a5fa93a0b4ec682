#!/usr/bin/env python3
"""The benchmark, in one command (run by hand, on a quiet machine; CI runs ``--quick``):

    python3 dev.py test --co -q >/dev/null   # once: makes .venv (or python3 dev.py demo)
    .venv/bin/pip install -e ".[bench]"      # once: locust
    .venv/bin/python bench/run.py [--rounds 5] [--quick]

It makes ``bench/.venv-dpv`` with django-phone-verify from PyPI on first use (its import name
is ``phone_verify`` too, so it runs in its own processes), then, in three storage modes (SQLite
in memory, SQLite file, PostgreSQL at ``BENCH_PG``), alternates ours / django-phone-verify /
ceiling runs (A B C A B C ...), each in a fresh process and a fresh database, and reports the
median of the per-round ratios. Then the memory of one process after 1,000 and 10,000 flows,
a Celery worker against its latency and CPU bounds, and last the deployed benchmark
(``deployed.py``: real server, broker, worker and a provider with latency, under locust).
Prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
OURS_PYTHON = HERE.parent / ".venv" / "bin" / "python"
DPV_VENV = HERE / ".venv-dpv"
DPV_PYTHON = DPV_VENV / "bin" / "python"
DPV_REQUIREMENTS = [
    "django-phone-verify==3.3.0",
    "Django>=5.2,<6",
    "djangorestframework",
    "psycopg[binary]",
    # The deployed benchmark (bench/deployed.py): its server, and its SMS backend's HTTP client.
    "gunicorn",
    "requests",
]
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
# Databases PREFIX_* are dropped and created: a prefix of one's own on a shared server.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX", "phone_verify_bench")
VARIANTS = ("ours", "dpv", "ceiling")


def ensure_dpv() -> None:
    if not (DPV_VENV / "bin" / "gunicorn").exists():  # also when made before gunicorn was in it
        print("Creating bench/.venv-dpv with django-phone-verify ...", flush=True)
        venv.create(DPV_VENV, with_pip=True)
        subprocess.run(
            [str(DPV_PYTHON), "-m", "pip", "install", "-q", *DPV_REQUIREMENTS], check=True
        )


def database(mode: str, variant: str, workdir: Path) -> dict:
    if mode == "memory":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    if mode == "file":
        path = workdir / f"{variant}.sqlite3"
        path.unlink(missing_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    import psycopg

    name = f"{DB_PREFIX}_{variant}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    user_host = PG.split("://", 1)[1]
    user, host_port = user_host.split("@")
    host, port = host_port.split(":")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": user,
        "HOST": host,
        "PORT": port,
    }


def run_flows(
    variant: str, mode: str, count: int, workdir: Path, checkpoint: int = 0, warm_up: int = 200
) -> dict:
    out = workdir / f"{variant}-{mode}.json"
    python = DPV_PYTHON if variant == "dpv" else OURS_PYTHON
    env = {
        **os.environ,
        "BENCH_DATABASE": json.dumps(database(mode, variant, workdir)),
        "BENCH_WARM_UP": str(warm_up),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [str(python), "flows.py", variant, str(count), str(out), str(checkpoint)],
        cwd=HERE,
        env={**env, "PYTHONPATH": str(HERE)},
        check=True,
        stdout=subprocess.DEVNULL,  # the console provider prints each code
    )
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer flows, for a smoke run")
    parser.add_argument("--no-deployed", action="store_true", help="skip bench/deployed.py")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    ensure_dpv()
    counts = {"memory": 2000, "file": 500, "postgres": 1000}
    warm_up = 200
    if args.quick:  # every part runs, briefly: a smoke pass, no figure to read
        counts, warm_up = {mode: 50 for mode in counts}, 20
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for mode, count in counts.items():
            rounds = []
            for _ in range(args.rounds):
                rounds.append({v: run_flows(v, mode, count, workdir, 0, warm_up) for v in VARIANTS})
                r = rounds[-1]
                print(
                    f"{mode}: ours {r['ours']['flows_per_second']:.0f}/s, django-phone-verify "
                    f"{r['dpv']['flows_per_second']:.0f}/s, ceiling "
                    f"{r['ceiling']['flows_per_second']:.0f}/s",
                    flush=True,
                )
            rows.append((mode, count, rounds))
        memory_flows = 500 if args.quick else 10_000
        # On a SQLite file: in memory, the database's own rows would count as the process's.
        memory = run_flows("ours", "file", memory_flows, workdir, memory_flows // 10, warm_up)
    sends = "30" if args.quick else "600"
    celery = [  # docs/celery.md's pool for I/O-bound sends, and prefork (time limits) beside it
        json.loads(
            subprocess.run(
                [str(OURS_PYTHON), str(HERE / "celery_bench.py"), sends, *pool],
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for pool in (["--pool=threads", "--concurrency=16"], ["--pool=prefork", "--concurrency=8"])
    ]
    report(rows, memory, celery, args.rounds)
    if args.no_deployed:
        return
    print("\n## Deployed (bench/deployed.py)\n", flush=True)
    subprocess.run(
        [str(OURS_PYTHON), str(HERE / "deployed.py"), *(["--quick"] if args.quick else [])],
        check=True,
    )


def median(rounds: list[dict], key) -> float:  # noqa: ANN001
    return statistics.median(key(r) for r in rounds)


def report(rows: list, memory: dict, celery: list[dict], rounds: int) -> None:
    def rate(v: str):  # noqa: ANN202
        return lambda r: r[v]["flows_per_second"]

    print(f"\n### Flows per second (median of {rounds} alternated rounds)\n")
    print(
        "| storage | flows per run | ours (a) | django-phone-verify (b) | ceiling (c) | a/b | a/c |"
    )
    print("|---|---|---|---|---|---|---|")
    for mode, count, rs in rows:
        a_b = median(rs, lambda r: r["ours"]["flows_per_second"] / r["dpv"]["flows_per_second"])
        a_c = median(rs, lambda r: r["ours"]["flows_per_second"] / r["ceiling"]["flows_per_second"])
        print(
            f"| {mode} | {count} | {median(rs, rate('ours')):.0f} | {median(rs, rate('dpv')):.0f} "
            f"| {median(rs, rate('ceiling')):.0f} | {a_b:.2f} | {a_c:.2f} |"
        )
    print("\n### Per request (SQL statements, BEGIN excluded; commits per create + check flow)\n")
    print("| storage | variant | queries per create | queries per check | commits per flow |")
    print("|---|---|---|---|---|")
    for mode, _, rs in rows:
        for v in VARIANTS:
            last = rs[-1][v]
            print(
                f"| {mode} | {v} | {last['queries_per_create']:g} | {last['queries_per_check']:g} "
                f"| {last['commits_per_flow']:g} |"
            )
    at_check = memory["peak_rss_kb_at_checkpoint"]
    at_end = memory["peak_rss_kb_at_end"]
    print("\n### Memory (ours, SQLite file, one process)\n")
    print(
        f"Peak RSS after {memory['flows'] // 10:,} flows: {at_check / 1024:.1f} MiB; after "
        f"{memory['flows']:,}: {at_end / 1024:.1f} MiB (ratio {at_end / at_check:.3f})."
    )
    print("\n### Celery worker (Redis broker, PostgreSQL, fake Fortytwo)\n")
    print(
        "| pool | latency | sends | sends/s | latency bound | worker CPU ms per send | CPU bound "
        "| ratio to the lower bound | database connections (most) | SMS texted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for c in celery:
        print(
            f"| {c['pool']} x {c['concurrency']} | {c['latency'] * 1000:.0f} ms | {c['sends']} "
            f"| {c['sends_per_second']:.0f} | {c['latency_bound']:.0f} "
            f"| {c['worker_cpu_ms_per_send']:.1f} | {c['cpu_bound']:.0f} | {c['ratio']:.2f} "
            f"({c['bound_by']}) | {c['max_database_connections']} | {c['sms_texted']} |"
        )


if __name__ == "__main__":
    sys.exit(main())
