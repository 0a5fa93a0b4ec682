#!/usr/bin/env python3
"""The project's two commands, needing nothing but Python 3.11+:

    python3 dev.py demo    # the example project on SQLite with the console provider
    python3 dev.py test    # the test suite (extra arguments go to pytest)

Both create ``.venv`` and install the project into it on first use, and again whenever
``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
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


COMMANDS = {"demo": demo, "test": test}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    ensure_environment()
    COMMANDS[sys.argv[1]](sys.argv[2:])
