"""The one hook between the flows and whatever runs their background jobs.

The flows (``services``, ``outbox``, ``prefills``) say *what* must run once the current
transaction commits, by name; the task layer (``tasks``, Celery) says *how*, by registering a
runner when Django loads the app. So the flows never import the tasks, and a site could run the
same jobs with another queue by registering its own runner.

Handing a job over is a fast path, never the record of work to do: for sends, the database is
(``Verification.send_due_at``, see ``outbox``). A runner that fails (the broker is down) is
logged in one line and the request goes on; the dispatcher hands the send over again later.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction

logger = logging.getLogger("phone_verify")

Runner = Callable[[str, tuple[Any, ...]], None]
"""``runner(job_name, args)``: hand one job to the queue. Raises when it could not."""

_runner: Runner | None = None


def set_runner(runner: Runner) -> None:
    """Register how jobs run (``tasks`` registers Celery's ``apply_async`` when it loads)."""
    global _runner
    _runner = runner


def on_commit(job: str, *args: Any) -> None:
    """Hand ``job(*args)`` to the runner once the current transaction commits (never for a
    rolled-back change). UUIDs are passed as strings, as message arguments must be."""
    arguments = tuple(str(arg) if isinstance(arg, uuid.UUID) else arg for arg in args)
    transaction.on_commit(lambda: hand_over(job, *arguments))


def hand_over(job: str, *args: Any) -> bool:
    """Hand ``job(*args)`` to the runner now; say whether it took it."""
    if _runner is None:
        # Django loads ``tasks`` in AppConfig.ready(): only a misconfigured project gets here.
        logger.error("no job runner registered: %s%r not run", job, args)
        return False
    try:
        _runner(job, args)
    except Exception as error:  # the broker is down, or refused: the outbox keeps the work
        logger.warning(
            "%s%r not handed to the queue (%s: %s)", job, args, type(error).__name__, error
        )
        return False
    return True
