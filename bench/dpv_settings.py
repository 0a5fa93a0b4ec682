"""Settings of the django-phone-verify process (its own virtual environment): the same
middleware as the example project, its VerificationViewSet, an in-memory SMS backend (or the
HTTP one that ``BENCH_DPV_BACKEND`` names, in the deployed benchmark)."""

import json
import os

SECRET_KEY = "bench-only-secret-key-0123456789abcdef0123456789abcdef"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "phone_verify",
]
# The example project's middleware, copied: its settings module needs django-environ and our
# app, which this virtual environment does not have (and must not: same import name).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "dpv_urls"
DATABASES = {"default": json.loads(os.environ["BENCH_DATABASE"])}
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "0"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PHONE_VERIFICATION = {
    "BACKEND": os.environ.get("BENCH_DPV_BACKEND", "dpv_backend.MemoryBackend"),
    "OPTIONS": {},
    "TOKEN_LENGTH": 6,
    "MESSAGE": "Welcome to {app}! Please use security code {security_code} to proceed.",
    "APP_NAME": "Bench",
    "SECURITY_CODE_EXPIRATION_TIME": 300,
    "VERIFY_SECURITY_CODE_ONLY_ONCE": True,
}
