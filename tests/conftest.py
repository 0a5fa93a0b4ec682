from __future__ import annotations

import os
from typing import Any

import pytest
from django.db import connection
from django.test import Client, override_settings
from rest_framework.test import APIClient

from phone_verify.providers.console import outbox as console_outbox

pytest_plugins = ["tests.log_audit"]

API = "/api/phone-verify/"


class Api:
    """An API client whose requests behave as in production: the transactions they open commit,
    so the callbacks registered with ``transaction.on_commit`` (sending the code, signals) run."""

    def __init__(self, capture: Any) -> None:
        self.client = APIClient()
        self._capture = capture

    def request(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        url = path if path.startswith("/") else API + path
        extra.setdefault("format", "json")
        if extra["format"] is None:
            del extra["format"]
        with self._capture(execute=True):
            return getattr(self.client, method)(url, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        if data is None and extra.get("format", "json") == "json":
            data = {}  # as a JSON client posts "nothing" (the API takes JSON only, even then)
        return self.request("post", path, data, **extra)

    def get(self, path: str, **extra: Any) -> Any:
        extra["format"] = None
        return self.request("get", path, None, **extra)

    def start(self, phone: str = "+33612345678", **body: Any) -> Any:
        return self.post("verifications/", {"phone_number": phone, **body})

    def check(self, verification_id: Any, code: str) -> Any:
        return self.post(f"verifications/{verification_id}/check/", {"code": code})


@pytest.fixture
def api(db: None, django_capture_on_commit_callbacks: Any) -> Api:
    return Api(django_capture_on_commit_callbacks)


class CommittingClient(Client):
    """Django's test client, with the on_commit callbacks of each request run, as in
    production (sending the code happens there)."""

    capture: Any = None

    def request(self, **request: Any) -> Any:
        with self.capture(execute=True):
            return super().request(**request)


@pytest.fixture
def web(db: None, django_capture_on_commit_callbacks: Any) -> CommittingClient:
    client = CommittingClient()
    client.capture = django_capture_on_commit_callbacks
    return client


@pytest.fixture
def use_provider(settings: Any) -> Any:
    """``with use_provider("dqe", {"URL": ...}, SEND_MAX_RETRIES=2):`` runs the block with that
    provider, those options and those other ``PHONE_VERIFY`` keys."""

    def use(name: str, options: dict[str, Any], **phone_verify: Any) -> Any:
        return override_settings(
            PHONE_VERIFY={
                **settings.PHONE_VERIFY,
                "PROVIDER": name,
                "PROVIDER_OPTIONS": {name: options},
                **phone_verify,
            }
        )

    return use


@pytest.fixture
def staff_client(client: Any, django_user_model: Any) -> Any:
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> None:
    """Each test starts with no rate-limit counter (they live in the local-memory cache)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def outbox() -> Any:
    console_outbox.clear()
    yield console_outbox
    console_outbox.clear()


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Tests marked ``postgres`` need DATABASE_URL to name a PostgreSQL server.

    On SQLite they are skipped with a reason; .ci/run runs the suite a second time on
    PostgreSQL with PHONE_VERIFY_REQUIRE_POSTGRES=1, where a skip would be a failure.
    """
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    if os.environ.get("PHONE_VERIFY_REQUIRE_POSTGRES") and not on_postgres:
        raise pytest.UsageError(
            "PHONE_VERIFY_REQUIRE_POSTGRES is set but DATABASE_URL is not PostgreSQL"
        )
    if on_postgres:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def db_vendor() -> str:
    return connection.vendor


_NUMBERS: list[str] = []


@pytest.fixture
def numbers(request: Any) -> Any:
    """``numbers("200 sends in 3.1 s")``: a line for the "measured" section at the end of the
    test output, printed whether the test passes or not."""

    def say(line: str) -> None:
        _NUMBERS.append(f"{request.node.name}: {line}")

    return say


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _NUMBERS:
        terminalreporter.section("measured")
        for line in _NUMBERS:
            terminalreporter.write_line(line)
