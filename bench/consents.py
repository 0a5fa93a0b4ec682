#!/usr/bin/env python3
"""Consent proof benchmark (run by hand; ``--quick`` is a smoke run a test makes):

    .venv/bin/python bench/consents.py [--quick] [--database URL]

Measures, on one database (``--database``, default: a fresh SQLite file; give a PostgreSQL URL
for the numbers that matter, e.g. ``postgres://postgres@127.0.0.1:5432/phone_verify_bench``;
its consent tables are emptied first):

1. consent appends per second through ``services.record_consent`` (sign, lock the chain head,
   insert, move the head), by one writer, then by 16 concurrent writers (threads, each with its
   own connection); the audit then checks the chain is whole;
2. ``phone_verify_audit`` over 10,000 then 100,000 records (1,000 and 3,000 with ``--quick``),
   each in a fresh process: seconds, and the process's peak RSS, which must not grow with the
   number of records (the audit streams them).

Prints a Markdown table. Each measurement runs in a child process (``--child ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WRITERS = 16


def setup_django(database_url: str) -> None:
    sys.path.insert(0, str(HERE.parent))
    import environ

    config = environ.Env.db_url_config(database_url)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # As the example project: writers queue for the write lock instead of failing.
        config["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 60}
    os.environ["BENCH_DATABASE"] = json.dumps(config)
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings_ours"
    sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", run_syncdb=True, verbosity=0)


def empty_consent_tables() -> None:
    from django.db import connection

    from phone_verify.models import ConsentChainHead

    tables = ["phone_verify_consentecho", "phone_verify_consentrecord"]
    with connection.cursor() as cursor:
        for table in tables:  # raw SQL: the app itself never deletes consent records
            cursor.execute(f"DELETE FROM {table}")
    ConsentChainHead.objects.all().delete()


def child_appends(count: int, writers: int) -> dict:
    from django.db import connection

    from phone_verify import services
    from phone_verify.audit import audit

    empty_consent_tables()
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for i in range(offset, count, writers):
                services.record_consent(
                    f"+336{20_000_000 + i % 500:08d}",
                    {"sms": True, "email": bool(i % 2)},
                    ip="203.0.113.7",
                    user_agent="bench",
                )
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    broken: list[str] = []
    summary = audit(lambda what, problems: broken.append(what))
    return {
        "appends": count,
        "writers": writers,
        "seconds": seconds,
        "per_second": count / seconds,
        "chain_whole": summary.intact and summary.signed == count,
    }


def child_fill(count: int) -> dict:
    from phone_verify.models import ConsentRecord

    empty_consent_tables()
    batch = 5000
    for start in range(0, count, batch):
        ConsentRecord.objects.bulk_create(
            ConsentRecord(
                phone_number=f"+336{30_000_000 + i:08d}",
                action="given",
                method="api",
                notice_version="1",
                language="en",
                user_agent="bench",
                sms=True,
            )
            for i in range(start, min(count, start + batch))
        )
    return {"records": count}


def peak_rss_kb() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def child_audit() -> dict:
    from phone_verify.audit import audit

    before = peak_rss_kb()
    started = time.perf_counter()
    broken: list[str] = []
    summary = audit(lambda what, problems: broken.append(what))
    return {
        "records": summary.records,
        "intact": summary.intact,
        "seconds": time.perf_counter() - started,
        "peak_rss_kb_before": before,
        "peak_rss_kb": peak_rss_kb(),
    }


def run_child(database_url: str, *args: str) -> dict:
    answer = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--database",
            database_url,
            "--child",
            *args,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        setup_django(args.database)
        kind, *rest = args.child
        if kind == "appends":
            result = child_appends(int(rest[0]), int(rest[1]))
        elif kind == "fill":
            result = child_fill(int(rest[0]))
        else:
            result = child_audit()
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or f"sqlite:///{tmp}/consents.sqlite3"
        appends = 64 if args.quick else 2000
        audits = (1_000, 3_000) if args.quick else (10_000, 100_000)
        alone = run_child(database, "appends", str(appends), "1")
        together = run_child(database, "appends", str(appends), str(WRITERS))
        audited = []
        for count in audits:
            run_child(database, "fill", str(count))
            audited.append(run_child(database, "audit"))

    engine = database.split(":", 1)[0]
    print(f"\n### Consent appends ({engine})\n")
    print("| writers | appends | seconds | appends per second | chain whole |")
    print("|---|---|---|---|---|")
    for row in (alone, together):
        print(
            f"| {row['writers']} | {row['appends']} | {row['seconds']:.2f} "
            f"| {row['per_second']:.0f} | {'yes' if row['chain_whole'] else 'NO'} |"
        )
    print(f"\n### phone_verify_audit ({engine}, a fresh process each)\n")
    print("| records | intact | seconds | peak RSS before | peak RSS after |")
    print("|---|---|---|---|---|")
    for row in audited:
        print(
            f"| {row['records']:,} | {'yes' if row['intact'] else 'NO'} | {row['seconds']:.1f} "
            f"| {row['peak_rss_kb_before'] / 1024:.1f} MiB | {row['peak_rss_kb'] / 1024:.1f} MiB |"
        )
    ok = alone["chain_whole"] and together["chain_whole"] and all(r["intact"] for r in audited)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
