"""Test settings: the example project's, tuned for speed. DATABASE_URL picks the database."""

from example_project.settings import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
# One process runs the tests: its local-memory counters are the real counts (no W401).
PHONE_VERIFY = {  # noqa: F405
    **PHONE_VERIFY,  # noqa: F405
    "PROVIDER": "console",
    "ALLOW_CONSOLE_PROVIDER": True,
    "RATE_LIMIT_SINGLE_PROCESS": True,
}
# The django-otp device (the ``otp`` extra, installed with the test extra).
INSTALLED_APPS = [*INSTALLED_APPS, "django_otp", "phone_verify.contrib.otp"]  # noqa: F405
