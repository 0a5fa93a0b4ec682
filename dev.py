#!/usr/bin/env python3
"""The project's two commands, needing nothing but Python 3.11+:

    python3 dev.py demo    # the example project on SQLite with the console provider
    python3 dev.py test    # the test suite (extra arguments go to pytest)
    python3 dev.py fuzz    # Schemathesis against the running example project (as CI does)

Each creates ``.venv`` and installs the project into it on first use, and again whenever
``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036  (said to whoever runs an older Python)
        sys.exit("phone_verify needs Python 3.11 or newer.")
    if not PYTHON.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        print("Installing phone_verify and its dependencies into .venv ...", flush=True)
        subprocess.run(
            [
                str(PYTHON),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-e",
                f"{ROOT}[test]",
            ],
            check=True,
        )
        stamp.write_text(wanted)


def run(args: list[str]) -> None:
    """Replace this process with ``args`` run by the venv's Python, from the repo root."""
    os.chdir(ROOT)
    if os.name == "nt":
        sys.exit(subprocess.call([str(PYTHON), *args]))
    os.execv(str(PYTHON), [str(PYTHON), *args])


def demo(args: list[str]) -> None:
    subprocess.run(
        [str(PYTHON), "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True
    )
    print("Demo: http://127.0.0.1:8000/ (API docs at /api/docs/); codes are printed here.")
    run(["manage.py", "runserver", *(args or ["127.0.0.1:8000"])])


def test(args: list[str]) -> None:
    run(["-m", "pytest", *args])


#: The fuzz run: every check, every phase (the stateful one chaining create -> check -> resend
#: -> read through the schema's links), a fixed seed and a bounded number of cases (about a
#: minute). schemathesis.toml adds the phone numbers and the domain's 400s.
FUZZ = [
    "--checks=all",
    "--phases=examples,coverage,fuzzing,stateful",
    "--seed=24",
    "--max-examples=40",
    "--generation-database=none",
    "--no-color",
]
#: The second, longer walk of the stateful phase, when the first missed an operation.
STATEFUL_AGAIN = [
    "--checks=all",
    "--phases=stateful",
    "--seed=25",
    "--max-examples=100",
    "--generation-database=none",
    "--no-color",
]
#: What the stateful phase must reach, or the run fails: a verification created (201), then
#: each operation called through a link with its id and answering (not 404).
API = "/api/phone-verify/verifications/"
STATEFUL_MUST_REACH = {
    f"POST {API}",
    f"POST {API}{{id}}/check/",
    f"POST {API}{{id}}/resend/",
    f"GET {API}{{id}}/",
}


def fuzz(args: list[str]) -> None:
    """Start the example project (DEBUG off, a fresh SQLite file, tests/fuzz_settings.py) on a
    free port, run Schemathesis against its OpenAPI schema, and stop it. Fails when a check
    fails, when the server logged a 500, or when the stateful phase did not reach every
    operation of STATEFUL_MUST_REACH."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.fuzz_settings",
            "DATABASE_URL": f"sqlite:///{tmp}/fuzz.sqlite3",
            "CELERY_BROKER_URL": "",
        }
        manage = [str(PYTHON), "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        log_path = Path(tmp) / "server.log"
        with log_path.open("w") as log:
            server = subprocess.Popen(
                [*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                _wait_for(url + "/api/schema/", server)
                code, reached = _schemathesis(url, Path(tmp) / "report.ndjson", FUZZ, args)
                if STATEFUL_MUST_REACH - reached:
                    # The stateful phase walks the links at random: when this walk missed an
                    # operation, one longer walk of that phase alone (every check still on).
                    print("The stateful phase missed", ", ".join(STATEFUL_MUST_REACH - reached))
                    more, reached_more = _schemathesis(
                        url, Path(tmp) / "stateful.ndjson", STATEFUL_AGAIN, args
                    )
                    code, reached = code or more, reached | reached_more
            finally:
                server.terminate()
                server.wait(timeout=10)
        server_log = log_path.read_text()
        if "Internal Server Error" in server_log:
            print(server_log[-5000:])
            sys.exit("The example project answered 500 during the fuzz run (log above).")
        print("The stateful phase reached:", ", ".join(sorted(reached)) or "nothing")
        missing = STATEFUL_MUST_REACH - reached
        if missing:
            sys.exit(f"The stateful phase never reached {', '.join(sorted(missing))}.")
        sys.exit(code)


def _schemathesis(url: str, report: Path, options: list[str], args: list[str]) -> tuple[int, set]:
    """Run ``st run`` against the served schema; its exit code and what the stateful phase
    reached."""
    code = subprocess.call(
        [
            str(BIN / "st"),
            "run",
            f"{url}/api/schema/?format=json",
            *options,
            "--report=ndjson",
            f"--report-ndjson-path={report}",
            *args,
        ],
        cwd=ROOT,
    )
    return code, _reached_by_stateful(report)


def _wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("The example project did not start.")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit("The example project did not answer in 60 s.")


def _reached_by_stateful(report: Path) -> set[str]:
    """The operations ("METHOD /path") the stateful phase reached, from Schemathesis' ndjson
    events: a 2xx answer, or an answer other than 404 to a call made through a link."""
    reached: set[str] = set()
    for line in report.read_text().splitlines() if report.exists() else []:
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario or scenario["phase"] != "stateful":
            continue
        recorder = scenario["recorder"]
        for case_id, case in recorder["cases"].items():
            response = recorder["interactions"].get(case_id, {}).get("response") or {}
            status = response.get("status_code", 0)
            if 200 <= status < 300 or (case.get("is_transition_applied") and status != 404):
                reached.add(f"{case['value']['method']} {case['value']['path']}")
    return reached


COMMANDS = {"demo": demo, "test": test, "fuzz": fuzz}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    ensure_environment()
    COMMANDS[sys.argv[1]](sys.argv[2:])
