"""Settings of the benchmark's "ours" and "ceiling" processes: the example project's (same
middleware, DRF, console provider, eager tasks), the database from BENCH_DATABASE."""

import json
import os

from example_project.settings import *  # noqa: F403
from example_project.settings import INSTALLED_APPS, PHONE_VERIFY
from phone_verify.limits import DEFAULT_LIMITS

DEBUG = False
DATABASES = {"default": json.loads(os.environ["BENCH_DATABASE"])}
INSTALLED_APPS = [*INSTALLED_APPS, "ceiling"]
ROOT_URLCONF = "urls_bench"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"
LOGGING = {"version": 1, "disable_existing_loggers": False}  # no per-flow log lines
# Every counter is incremented as in production; the limits are out of reach, so that 10,000
# flows from one client are not refused (that would measure the refusal).
PHONE_VERIFY = {
    **PHONE_VERIFY,
    "PROVIDER": "console",
    "ALLOW_CONSOLE_PROVIDER": True,
    "RATE_LIMITS": {name: (10**9, window) for name, (_, window) in DEFAULT_LIMITS.items()},
    "PUMPING_GUARD": {"MIN_SENDS": 10**9},
}
