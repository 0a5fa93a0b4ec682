"""Settings of the example project. Every value comes from the environment (django-environ) and
every variable is optional: with none set, it runs on SQLite with the console provider and
Celery tasks run eagerly in-process."""

import base64
import hashlib
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env(
    "SECRET_KEY", default="example-project-insecure-key-change-me-9f3b1c7e2d8a4f6b0c5e"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phone_verify",
]

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

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Seconds a database connection is reused (0: one per request or task). Celery workers want
# it above 0: opening a PostgreSQL connection per task costs more than the task's queries.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A server and a worker write the same file: take the write lock when a transaction
    # starts, waiting for it, instead of failing "database is locked" on the first write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The rate-limit counters live here: Redis (redis://127.0.0.1:6379/1) when several processes
# serve the site, else each process would count alone (warning phone_verify.W401).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache":
    # django-environ picks django-redis for redis:// when it is installed (the test extra
    # installs it); this project runs Django's own RedisCache, whatever else is installed.
    CACHES["default"]["BACKEND"] = "django.core.cache.backends.redis.RedisCache"
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # A Redis that is down must fail fast: sends and checks then answer 503 at once, instead
    # of each request waiting for the system's connect timeout (minutes on a lost host).
    options = CACHES["default"].setdefault("OPTIONS", {})
    options.setdefault("socket_connect_timeout", 1)
    options.setdefault("socket_timeout", 1)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
LOGIN_URL = "/admin/login/"
LOCALE_PATHS = [BASE_DIR / "example_project" / "locale"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "example_project" / "static"]

# --- Celery: a broker if one is named, otherwise tasks run in-process ---------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="") or "memory://"
CELERY_TASK_ALWAYS_EAGER = CELERY_BROKER_URL == "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands a message taken by a worker that died back only after ``visibility_timeout``; a
# retry waiting on its countdown (up to PHONE_VERIFY["RETRY_BACKOFF_MAX"], 300 s) plus the send
# task's hard time limit (90 s) must fit below it, or Redis would hand that message out twice.
# A lost send does not wait for it: the send outbox's dispatcher (``celery worker -B``) hands it
# over again after PHONE_VERIFY["SEND_REDISPATCH_AFTER"] seconds. RabbitMQ ignores this: its
# unacknowledged messages come back as soon as the worker's connection drops.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}
# Celery's Django fixup closes a worker's database connections before and after every task
# unless this is set, whatever CONN_MAX_AGE says: a new PostgreSQL connection per task (a sixth
# of a busy worker's time, BENCHMARKS.md). Set, the worker keeps them as Django keeps them
# around requests (CONN_MAX_AGE, CONN_HEALTH_CHECKS): see celery.py.
CELERY_DB_REUSE_MAX = 1_000_000

# --- REST framework and the OpenAPI schema ------------------------------------------------
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
SPECTACULAR_SETTINGS = {
    "TITLE": "phone_verify API",
    "DESCRIPTION": "Phone verification by one-time code, with GDPR consent records.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- phone_verify ---------------------------------------------------------------------------
# django-phonenumber-field: the country the signup form's phone field starts on.
PHONENUMBER_DEFAULT_REGION = env("PHONENUMBER_DEFAULT_REGION", default="FR")
# The Ed25519 key that signs consent records: base64 of its 32-byte seed. In DEBUG without one,
# a demo key is derived from SECRET_KEY (stable across restarts, worthless as proof); with DEBUG
# off, the system check phone_verify.E017 refuses to start without a real key.
CONSENT_KEY = env("PHONE_VERIFY_CONSENT_KEY", default="")
if not CONSENT_KEY and DEBUG:
    demo_seed = hashlib.sha256(f"phone_verify demo consent key:{SECRET_KEY}".encode()).digest()
    CONSENT_KEY = base64.b64encode(demo_seed).decode()

PHONE_VERIFY = {
    "CONSENT_SIGNING_KEYS": [CONSENT_KEY] if CONSENT_KEY else [],
    "PROVIDER": env("PHONE_VERIFY_PROVIDER", default="console"),
    "PUBLIC_URL": env("PHONE_VERIFY_PUBLIC_URL", default="http://localhost:8000"),
    "WEBHOOK_SECRETS": env.list("PHONE_VERIFY_WEBHOOK_SECRET", default=[]),
    "FALLBACK_PROVIDERS": env.list("PHONE_VERIFY_FALLBACK_PROVIDERS", default=[]),
    # The site's host name for WebOTP (browsers fill the code from the SMS); "": off.
    "WEBOTP_DOMAIN": env("PHONE_VERIFY_WEBOTP_DOMAIN", default=""),
    "PROVIDER_OPTIONS": {
        "dqe": {
            "URL": env("DQE_URL", default=""),
            "LICENCE": env("DQE_LICENCE", default=""),
            "COMPANY": env("DQE_COMPANY", default=""),
            "CLIENT_SECRET": env("DQE_CLIENT_SECRET", default=""),
        },
        "fortytwo": {
            "URL": env("FORTYTWO_URL", default="https://rest.fortytwo.com"),
            "TOKEN": env("FORTYTWO_TOKEN", default=""),
        },
        "telesign": {
            "URL": env("TELESIGN_URL", default="https://rest-ww.telesign.com"),
            "CUSTOMER_ID": env("TELESIGN_CUSTOMER_ID", default=""),
            "API_KEY": env("TELESIGN_API_KEY", default=""),
            "AUTH": env("TELESIGN_AUTH", default="tsa"),
            "CODE_MODE": env("TELESIGN_CODE_MODE", default="telesign"),
        },
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Phone numbers masked in whatever reaches the console: a message, an exception's text.
    "filters": {"mask_phone_numbers": {"()": "phone_verify.logs.MaskPhoneNumbers"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_phone_numbers"]}},
    "loggers": {
        "phone_verify": {"handlers": ["console"], "level": "INFO"},
        # Every 500 with its traceback, whatever DEBUG says: Django's own logging shows them
        # only with DEBUG on (and mails them to ADMINS with DEBUG off).
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
