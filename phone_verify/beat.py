"""The periodic jobs a site runs with Celery beat (or ``celery worker -B``):

    from phone_verify.beat import BEAT_SCHEDULE
    app.conf.beat_schedule = {**BEAT_SCHEDULE, **your_own}

Importable before Django is set up (it names tasks, it does not import them).
"""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # The send outbox: owed sends whose fast path failed or whose worker died are handed to the
    # broker again (after PHONE_VERIFY["SEND_REDISPATCH_AFTER"] seconds). Every 10 s bounds the
    # delay of a lost send to that setting + 10 s, on any broker.
    "phone-verify-dispatch-sends": {
        "task": "phone_verify.tasks.dispatch_sends",
        "schedule": 10.0,
    },
    # Every retention rule: identity prefill data blanked once PHONE_VERIFY["PREFILL_RETENTION"]
    # has passed (every 15 min keeps that within a quarter of an hour of the hour it allows),
    # verifications and delivery events past PHONE_VERIFY["VERIFICATION_RETENTION"].
    "phone-verify-purge": {
        "task": "phone_verify.tasks.purge_expired_data",
        "schedule": 15 * 60.0,
    },
}
