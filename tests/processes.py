"""Start the example project's real processes (server, Celery worker) for end-to-end tests."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child process whose output lines are collected in a queue as they come."""

    def __init__(self, args: list[str], env: dict[str, str], *, python: bool = True) -> None:
        """``args`` of a Python run (``python=True``: ``-m celery ...``), or a whole command."""
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.popen = subprocess.Popen(
            [sys.executable, *args] if python else args,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: kill() reaches its children too
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.popen.poll() is not None:
                    break
                continue
            match = regex.search(line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; output:\n{''.join(self.output)}")

    def kill(self) -> None:
        """SIGKILL the process and its children at once, as an OOM killer or a lost host would:
        nothing gets to clean up."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def start_worker(
    env: dict[str, str], concurrency: int = 0, *, beat: bool = False, pool_name: str = "prefork"
) -> Process:
    """A real Celery worker of the example project, once it says it is ready: the solo pool, or
    ``pool_name`` (prefork: time limits need it; threads) with ``concurrency``; with ``beat``,
    the embedded beat too (``-B``: the README's command, which runs the dispatcher)."""
    pool = (
        [f"--pool={pool_name}", f"--concurrency={concurrency}"] if concurrency else ["--pool=solo"]
    )
    if beat:
        schedule = Path(tempfile.mkdtemp(prefix="phone-verify-beat-")) / "schedule"
        pool += ["-B", f"--schedule={schedule}"]
    worker = Process(
        [
            "-m",
            "celery",
            "-A",
            "example_project",
            "worker",
            *pool,
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
    )
    try:
        worker.wait_for(r"ready\.", timeout=60)
    except AssertionError:
        worker.stop()
        raise
    return worker


def start_redis(port: int) -> Process:
    """A private ``redis-server`` on 127.0.0.1:``port`` keeping nothing on disk, once it answers
    (a broker a test may stop: never the shared one)."""
    import redis

    server = Process(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        {},
        python=False,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return server
        except redis.ConnectionError:
            time.sleep(0.05)
    server.stop()
    raise AssertionError("redis-server did not start:\n" + "".join(server.output))


def process_database_url() -> str:
    """The URL of the test database (PostgreSQL) for the processes a test starts."""
    from django.db import connection

    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}"


def redis_url() -> str:
    """The Redis database the worker tests use (flushed by them)."""
    return os.environ.get("PHONE_VERIFY_TEST_REDIS", "redis://127.0.0.1:6379/15")


def require_redis() -> None:
    """Skip without Redis, unless PHONE_VERIFY_REQUIRE_SERVICES says a skip is a failure."""
    import pytest
    import redis

    try:
        redis.Redis.from_url(redis_url()).ping()
    except redis.ConnectionError:
        if os.environ.get("PHONE_VERIFY_REQUIRE_SERVICES"):
            raise
        pytest.skip(f"needs Redis at {redis_url()}")
    redis.Redis.from_url(redis_url()).flushdb()


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )


def example_project(tmp_path: Path, **variables: str) -> dict[str, str]:
    """The environment of the example project on a fresh SQLite file in ``tmp_path``, migrated,
    tasks run in process (no broker) unless ``variables`` (its environment variables) say."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'example.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "CELERY_BROKER_URL": "",
        **variables,
    }
    manage(env, "migrate", "--noinput")
    return env


def start_server(env: dict[str, str], port: int | None = None) -> tuple[Process, str]:
    port = port or free_port()
    server = Process(["manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url + "/", timeout=1)
            return server, url
        except requests.ConnectionError:
            if server.popen.poll() is not None:
                break
            time.sleep(0.1)
    server.stop()
    raise AssertionError("the example project did not start:\n" + "".join(server.output))
