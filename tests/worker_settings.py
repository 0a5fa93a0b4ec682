"""The example project's settings, plus what the real-worker tests tune through the environment:
``PHONE_VERIFY_TEST_OVERRIDES`` (JSON merged into ``PHONE_VERIFY``), a short Redis visibility
timeout where a test asks (a killed worker's messages come back quickly) and Celery task
annotations (time limits)."""

import json
import os

from example_project.settings import *  # noqa: F403
from example_project.settings import CELERY_BROKER_TRANSPORT_OPTIONS, PHONE_VERIFY
from phone_verify.limits import DEFAULT_LIMITS

_overrides = json.loads(os.environ.get("PHONE_VERIFY_TEST_OVERRIDES") or "{}")
if isinstance(_overrides.get("HTTP_TIMEOUT"), list):
    _overrides["HTTP_TIMEOUT"] = tuple(_overrides["HTTP_TIMEOUT"])  # requests wants a tuple
# Hundreds of verifications from 127.0.0.1 to one number range are the point here, not the
# rate limits (tests/test_limits.py) nor the pumping guard (tests/test_pumping.py): off unless
# a test sets them.
PHONE_VERIFY = {
    **PHONE_VERIFY,
    "RATE_LIMITS": dict.fromkeys(DEFAULT_LIMITS),
    "PUMPING_GUARD": None,
    **_overrides,
}

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "visibility_timeout": float(
        os.environ.get("CELERY_TEST_VISIBILITY_TIMEOUT")
        or CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    ),
    # Look for messages of a dead worker every second, not every 10 x 10 s (kombu's default).
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
    # The restore sweep holds a mutex in Redis; a worker SIGKILLed while holding it would block
    # the next worker's sweep for kombu's default 300 s.
    "unacked_mutex_expire": 5,
}
CELERY_TASK_ANNOTATIONS = json.loads(os.environ.get("CELERY_TEST_ANNOTATIONS") or "{}")
