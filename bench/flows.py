"""One benchmark process: ``python flows.py VARIANT COUNT OUT.json [CHECKPOINT]``.

VARIANT is ``ours`` (phone_verify's REST API: create then check, console provider, eager
tasks, a consent record and a delivery event per flow), ``dpv`` (django-phone-verify's
``register`` / ``verify``, run from its own virtual environment) or ``ceiling`` (bare DRF views
doing only the writes our flow needs). The database is ``BENCH_DATABASE`` (a Django DATABASES
entry as JSON). Each flow goes through Django's full request stack (WSGI handler, middleware).

Writes to OUT.json: flows per second over COUNT timed flows, SQL queries per create and per
check, commits per flow (counted in a separate, untimed pass), and the peak RSS after
CHECKPOINT flows and at the end.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANT, COUNT, OUT = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
CHECKPOINT = int(sys.argv[4]) if len(sys.argv) > 4 else 0

if VARIANT == "dpv":
    os.environ["DJANGO_SETTINGS_MODULE"] = "dpv_settings"
else:
    sys.path.insert(1, str(HERE.parent))  # the example project (phone_verify is installed)
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings_ours"

import django  # noqa: E402

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import RequestFactory  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
JSON = "application/json"


class Answer:
    def __init__(self, status: str, body: bytes) -> None:
        self.status_code = int(status.split()[0])
        self.content = body

    def json(self) -> dict:
        return json.loads(self.content)


class WsgiClient(RequestFactory):
    """Requests straight into Django's WSGI handler, as a server would make them: the whole
    stack (request signals, middleware, DRF), without the test client's extras (it re-connects
    signal receivers on every request, and its weak references pile up over 10,000 flows)."""

    handler = WSGIHandler()

    def request(self, **request):  # noqa: ANN003, ANN201
        status = []
        body = b"".join(
            self.handler(self._base_environ(**request), lambda s, h, *a: status.append(s))
        )
        return Answer(status[0], body)


client = WsgiClient()


def phone(i: int) -> str:
    return f"+336{10_000_000 + i:08d}"


def flow_ours(i: int) -> tuple:
    from phone_verify.providers.console import outbox

    number = phone(i)
    created = client.post(
        "/api/phone-verify/verifications/",
        {"phone_number": number, "consents": {"sms": True}},
        content_type=JSON,
    )
    assert created.status_code == 201, created.content
    verification_id = created.json()["id"]

    def check() -> None:
        code = outbox.last_code(number)
        checked = client.post(
            f"/api/phone-verify/verifications/{verification_id}/check/",
            {"code": code},
            content_type=JSON,
        )
        assert checked.status_code == 200, checked.content

    return check


def flow_dpv(i: int) -> tuple:
    from dpv_backend import MemoryBackend

    number = phone(i)
    created = client.post("/api/phone/register", {"phone_number": number}, content_type=JSON)
    assert created.status_code == 200, created.content
    token = created.json()["session_token"]

    def check() -> None:
        code = re.search(r"security code (\d+)", MemoryBackend.last_message).group(1)
        body = {"phone_number": number, "session_token": token, "security_code": code}
        checked = client.post("/api/phone/verify", body, content_type=JSON)
        assert checked.status_code == 200, checked.content

    return check


def flow_ceiling(i: int) -> tuple:
    created = client.post("/ceiling/", {"phone_number": phone(i)}, content_type=JSON)
    assert created.status_code == 201, created.content
    answer = created.json()

    def check() -> None:
        checked = client.post(
            f"/ceiling/{answer['id']}/check/", {"code": answer["code"]}, content_type=JSON
        )
        assert checked.status_code == 200, checked.content

    return check


FLOW = {"ours": flow_ours, "dpv": flow_dpv, "ceiling": flow_ceiling}[VARIANT]


def peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class Counter:
    """Counts statements, and commits: atomic blocks committed plus writes made outside any
    (autocommit: each is its own transaction)."""

    def __init__(self) -> None:
        self.queries = self.commits = 0
        original = connection.commit

        def commit() -> None:
            self.commits += 1
            original()

        connection.commit = commit

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001
        # BEGIN and savepoints are transaction control (SQLite shows BEGIN, psycopg does not).
        if sql.lstrip()[:9].upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
            return execute(sql, params, many, context)
        self.queries += 1
        writes = sql.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE")
        if writes and not connection.in_atomic_block:
            self.commits += 1
        return execute(sql, params, many, context)


def count_per_request(flows: int = 50, start: int = 10**7) -> dict:
    counter = Counter()
    creates = checks = 0
    with connection.execute_wrapper(counter):
        for i in range(start, start + flows):
            before = counter.queries
            check = FLOW(i)
            creates += counter.queries - before
            before = counter.queries
            check()
            checks += counter.queries - before
    return {
        "queries_per_create": creates / flows,
        "queries_per_check": checks / flows,
        "commits_per_flow": counter.commits / flows,
    }


# Warm-up: imports, caches, the first pages of the database.
for i in range(-int(os.environ.get("BENCH_WARM_UP", "200")), 0):
    FLOW(10**6 + i)()

result: dict = {"variant": VARIANT, "flows": COUNT}
start = time.perf_counter()
for i in range(COUNT):
    FLOW(i)()
    if CHECKPOINT and i + 1 == CHECKPOINT:
        result["peak_rss_kb_at_checkpoint"] = peak_rss_kb()
elapsed = time.perf_counter() - start
result["flows_per_second"] = COUNT / elapsed
result["peak_rss_kb_at_end"] = peak_rss_kb()
result.update(count_per_request())
OUT.write_text(json.dumps(result))
