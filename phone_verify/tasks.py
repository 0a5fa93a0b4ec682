"""Celery tasks: thin wrappers around ``services``.

Without a broker (``CELERY_TASK_ALWAYS_EAGER``), they run in-process when the transaction that
enqueued them commits.
"""

from __future__ import annotations

import random

from celery import shared_task

from . import prefills, services
from .conf import app_settings
from .exceptions import ProviderError

MAX_BACKOFF = 300  # seconds


def backoff(retries: int) -> float:
    """Exponential backoff with full jitter: up to 2, 4, 8... seconds, at most ``MAX_BACKOFF``."""
    return random.uniform(1, min(MAX_BACKOFF, 2 ** (retries + 1)))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_code(self, verification_id: str, send_number: int) -> None:  # type: ignore[no-untyped-def]
    """Send code ``send_number`` of a verification; retry provider faults that may pass."""
    final_attempt = self.request.retries >= app_settings.SEND_MAX_RETRIES
    try:
        services.deliver_code(verification_id, send_number, final_attempt=final_attempt)
    except ProviderError as exc:  # only retryable ones reach here, and never on the last try
        raise self.retry(
            exc=exc, countdown=backoff(self.request.retries), max_retries=None
        ) from exc


@shared_task(bind=True, ignore_result=True)
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
    bind=True, autoretry_for=(ProviderError,), retry_backoff=True, max_retries=5, ignore_result=True
)
def report_completion(self, verification_id: str) -> None:  # type: ignore[no-untyped-def]
    """Tell the provider a code we generated was verified; provider faults are retried."""
    services.report_completion(verification_id)


@shared_task(bind=True, ignore_result=True)
def poll_prefill(self, prefill_id: str) -> None:  # type: ignore[no-untyped-def]
    """Poll DQE for a prefill's identity data, then again after the delay the service gives,
    until it is settled (bounded by the token's lifetime). Eager tasks run one poll; a read of
    the prefill triggers the next when it is due."""
    delay = prefills.poll_prefill(prefill_id)
    if delay is not None and not self.request.is_eager:
        poll_prefill.apply_async((prefill_id,), countdown=delay)


@shared_task(ignore_result=True)
def purge_prefills() -> int:
    """Blank identity data past ``PREFILL_RETENTION`` (for a Celery beat schedule)."""
    return prefills.purge_prefills()
