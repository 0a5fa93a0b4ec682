"""A pytest plugin: every log record of the whole test run is kept, and at the end the run
fails if one holds an unmasked phone number or a one-time code.

Codes are known exactly: every code the console provider and the fake providers issued during
the run is registered here (``issued``). The console provider's own printed line is stdout, not
a log record: it is the one place a code may appear.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from phone_verify.logs import find_phone_numbers

ISSUED_CODES: set[str] = set()
_records: list[str] = []


def issued(code: str) -> None:
    ISSUED_CODES.add(str(code))


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            _records.append(f"{record.name}: {self.format(record)}")
        except Exception:  # a record that cannot be formatted is a bug the test itself shows
            _records.append(f"{record.name}: {record.msg!r} {record.args!r}")


def pytest_configure(config: Any) -> None:
    handler = _Keep(level=logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    from phone_verify.providers import console

    original = console.Outbox.append

    def append(self: Any, message: Any) -> None:
        issued(message.code)
        original(self, message)

    console.Outbox.append = append  # type: ignore[method-assign]


def offending_lines() -> list[str]:
    bad = []
    codes = re.compile(
        # Whole tokens only: not inside an id, a hash or a time ("10:00:00.123456").
        r"(?<![\w\-.:])(" + "|".join(map(re.escape, sorted(ISSUED_CODES))) + r")(?![\w\-])"
    )
    for line in _records:
        if find_phone_numbers(line) or (ISSUED_CODES and codes.search(line)):
            bad.append(line)
    return bad


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    bad = offending_lines()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.section("log audit")
        reporter.write_line(
            f"{len(_records)} log records, {len(ISSUED_CODES)} codes issued: "
            f"{len(bad)} with an unmasked phone number or a code"
        )
        for line in bad[:20]:
            reporter.write_line(f"  {line[:300]}")
    if bad:
        session.exitstatus = 1
