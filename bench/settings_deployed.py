"""Settings of our server and worker in the deployed benchmark: the example project's, as its
environment configures them (PostgreSQL, Redis cache, a broker, a provider), with two changes:
the rate limits and the pumping guard out of reach (thousands of flows come from one IP; every
counter is still incremented, as in production), and the queue name that ``BENCH_QUEUE``
gives, so a run on a shared broker never takes or leaves messages in anyone else's queue."""

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import PHONE_VERIFY
from phone_verify.limits import DEFAULT_LIMITS

ALLOWED_HOSTS = ["127.0.0.1"]
PHONE_VERIFY = {
    **PHONE_VERIFY,
    "RATE_LIMITS": {name: (10**9, window) for name, (_, window) in DEFAULT_LIMITS.items()},
    "PUMPING_GUARD": {"MIN_SENDS": 10**9},
}
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("BENCH_QUEUE", "celery")
