"""Celery tasks: thin wrappers around ``services``.

Without a broker (``CELERY_TASK_ALWAYS_EAGER``), they run in-process when the transaction that
enqueued them commits.

Every task is idempotent (a task that finds its work done does nothing), so a message delivered
twice is harmless: that is what makes ``acks_late`` + ``reject_on_worker_lost`` safe, and those
are what make a worker killed mid-task lose nothing (the broker hands the message out again).
Time limits bound a task stuck on a provider: the soft one is raised inside the task, which then
retries like any provider fault; the hard one kills the process (and the message is redelivered).
Override them per task with Celery's ``task_annotations``.

Loading this module registers Celery as the runner of the flows' jobs (``jobs.set_runner``):
the flows never import it. Messages are published without kombu's retry loop: when the broker
is down the request goes on at once, and the send outbox (``outbox``) hands the send over later.
"""

from __future__ import annotations

import random
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import jobs, outbox, prefills, retention, services
from .conf import app_settings
from .exceptions import ProviderError

# Above any single provider call (HTTP_TIMEOUT's default is 3.05 s + 10 s), below "stuck".
SOFT_TIME_LIMIT = 60
TIME_LIMIT = 90

RELIABLE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": SOFT_TIME_LIMIT,
    "time_limit": TIME_LIMIT,
    "ignore_result": True,
}


def backoff(retries: int) -> float:
    """Seconds before try ``retries + 1``: exponential backoff with full jitter (AWS's "full
    jitter": spreads a burst of retries), up to 2, 4, 8... capped by ``RETRY_BACKOFF_MAX``."""
    return random.uniform(0, min(app_settings.RETRY_BACKOFF_MAX, 2 ** (retries + 1)))


@shared_task(bind=True, **RELIABLE)
def send_code(self, verification_id: str, send_number: int) -> None:  # type: ignore[no-untyped-def]
    """Send code ``send_number`` of a verification; retry provider faults that may pass."""
    final_attempt = self.request.retries >= app_settings.SEND_MAX_RETRIES
    try:
        services.deliver_code(verification_id, send_number, final_attempt=final_attempt)
    except SoftTimeLimitExceeded as exc:
        # The provider call outlived the task: the transaction rolled back, the row lock is
        # gone. The provider may have sent it: idempotent providers (Fortytwo's client_ref) say
        # so on the retry.
        error = ProviderError(
            "the send task reached its soft time limit",
            provider="task",
            code="provider_timeout",
            retryable=True,
        )
        if final_attempt:
            services.send_failed(verification_id, send_number, error)
            return
        raise _retry_send(self, verification_id, error) from exc
    except ProviderError as exc:  # only retryable ones reach here, and never on the last try
        raise _retry_send(self, verification_id, exc) from exc


def _retry_send(task: Any, verification_id: str, error: ProviderError) -> Exception:
    countdown = backoff(task.request.retries)
    outbox.postpone(verification_id, countdown)  # the dispatcher waits for this retry
    return task.retry(exc=error, countdown=countdown, max_retries=None)


@shared_task(bind=True, **RELIABLE)
def poll_status(self, verification_id: str, poll_number: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Poll a verification's delivery status, then again with backoff until it is final,
    ``POLL_MAX`` polls were made or the code expired (``services.poll_delivery`` decides).

    Without a worker (eager tasks), only the first poll runs: a chain would spin in-process
    with no delay between polls, so the rest is left to callbacks.
    """
    if services.poll_delivery(verification_id) and not self.request.is_eager:
        poll_status.apply_async(
            (verification_id, poll_number + 1), countdown=backoff(poll_number + 1)
        )


@shared_task(
    bind=True,
    autoretry_for=(ProviderError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
    **RELIABLE,
)
def report_completion(self, verification_id: str) -> None:  # type: ignore[no-untyped-def]
    """Tell the provider a code we generated was verified; provider faults are retried."""
    services.report_completion(verification_id)


@shared_task(bind=True, **RELIABLE)
def poll_prefill(self, prefill_id: str) -> None:  # type: ignore[no-untyped-def]
    """Poll DQE for a prefill's identity data, then again after the delay the service gives,
    until it is settled (bounded by the token's lifetime). Eager tasks run one poll; a read of
    the prefill triggers the next when it is due."""
    delay = prefills.poll_prefill(prefill_id)
    if delay is not None and not self.request.is_eager:
        poll_prefill.apply_async((prefill_id,), countdown=delay)


@shared_task(ignore_result=True)
def dispatch_sends() -> int:
    """One pass of the send outbox's dispatcher (``BEAT_SCHEDULE`` runs it every 10 s;
    ``manage.py phone_verify_dispatch`` does the same without beat). Answers the sends handed."""
    return outbox.dispatch_due_sends().handed


@shared_task(ignore_result=True)
def purge_expired_data() -> dict[str, int]:
    """Apply every retention period, ``VERIFICATION_RETENTION`` and ``PREFILL_RETENTION`` (for
    a Celery beat schedule; ``manage.py phone_verify_purge`` does the same)."""
    return retention.purge()


def _run(job: str, args: tuple[Any, ...]) -> None:
    """Publish ``job(*args)``, failing at once when the broker is down: one connection try and
    no publish retry (kombu would otherwise keep a request waiting for seconds)."""
    task = globals()[job]
    if task.app.conf.task_always_eager:
        task.apply_async(args)
        return
    with task.app.connection_or_acquire() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        task.apply_async(args, retry=False, connection=connection)


jobs.set_runner(_run)
