"""The example project as a user runs it: real server process, real HTTP, SQLite file,
the console provider printing codes; and the same flow through a real Celery worker on Redis.

These start processes and take a few seconds; they carry their own database (a temporary SQLite
file), so they do not need pytest-django's.
"""

from __future__ import annotations

import sqlite3

import pytest
import requests

from .processes import (
    Process,
    example_project,
    redis_url,
    require_redis,
    start_server,
    start_worker,
)

PHONE = "+33612345678"
CODE_LINE = r"phone_verify console: code (\d{6}) for \+33 6"
API = "/api/phone-verify/verifications/"


@pytest.fixture
def demo_env(tmp_path):
    return example_project(tmp_path)


def run_flow(url: str, codes: Process) -> str:
    consents = {"sms": True, "email": True, "phone": False, "sms2": True, "post5": True}
    created = requests.post(url + API, json={"phone_number": PHONE, "consents": consents})
    assert created.status_code == 201, created.text
    verification_id = created.json()["id"]

    code = codes.wait_for(CODE_LINE).group(1)
    checked = requests.post(f"{url}{API}{verification_id}/check/", json={"code": code})
    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "verified"
    assert requests.get(f"{url}{API}{verification_id}/").json()["status"] == "verified"
    return verification_id


def stored_consent(env, verification_id):
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        row = db.execute(
            "SELECT * FROM phone_verify_consentrecord WHERE verification_id = ?",
            [verification_id.replace("-", "")],
        ).fetchone()
    return {key: row[key] for key in row.keys() if key[:3] in ("sms", "ema", "pho", "pos")}


def test_demo_server_on_sqlite_with_the_console_provider(demo_env):
    server, url = start_server(demo_env)
    try:
        verification_id = run_flow(url, server)
    finally:
        server.stop()
    flags = stored_consent(demo_env, verification_id)
    granted = sorted(key for key, value in flags.items() if value and key != "phone_number")
    assert granted == ["email", "post5", "sms", "sms2"]


@pytest.mark.services
def test_the_same_flow_through_a_real_celery_worker_and_redis(demo_env):
    require_redis()
    env = {**demo_env, "CELERY_BROKER_URL": redis_url()}
    worker = start_worker(env)
    server = None
    try:
        server, url = start_server(env)
        verification_id = run_flow(url, worker)  # the code is printed by the worker
    finally:
        if server:
            server.stop()
        worker.stop()
    assert "phone_verify console: code" not in "".join(server.output)
    assert stored_consent(env, verification_id)["sms2"] == 1
