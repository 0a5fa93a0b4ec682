"""System checks name the setting to fix."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings


def messages(**phone_verify):
    with override_settings(PHONE_VERIFY=phone_verify, DEBUG=True):
        return [(m.id, m.msg) for m in run_checks() if m.id and m.id.startswith("phone_verify")]


def test_defaults_pass():
    assert messages() == []


@pytest.mark.parametrize(
    "key, value",
    [
        ("CODE_LENGTH", 3),
        ("CODE_LENGTH", "6"),
        ("CODE_LIFETIME", 0),
        ("MAX_CHECK_ATTEMPTS", 0),
        ("MAX_SENDS", True),
        ("RESEND_COOLDOWN", -1),
    ],
)
def test_bad_numbers_are_errors_naming_the_key(key, value):
    found = messages(**{key: value})
    assert [m_id for m_id, _ in found] == ["phone_verify.E002"]
    assert f"PHONE_VERIFY['{key}']" in found[0][1]


def test_unknown_key_is_a_warning():
    assert messages(CODE_LENGHT=6) == [
        (
            "phone_verify.W001",
            "PHONE_VERIFY['CODE_LENGHT'] is not a phone_verify setting; it is ignored.",
        )
    ]


@pytest.mark.parametrize("countries", [["FR"], ["XXX"], "FRA", ["fra"]])
def test_allowed_countries_must_be_alpha3(countries):
    assert [m[0] for m in messages(ALLOWED_COUNTRIES=countries)] == ["phone_verify.E003"]


def test_public_url_must_be_absolute():
    assert [m[0] for m in messages(PUBLIC_URL="localhost:8000")] == ["phone_verify.E004"]


def test_unknown_provider():
    found = messages(PROVIDER="carrier-pigeon")
    assert [m[0] for m in found] == ["phone_verify.E005"]
    assert "PHONE_VERIFY['PROVIDER']" in found[0][1] and "console" in found[0][1]


def test_console_provider_is_refused_without_debug_unless_allowed():
    with override_settings(PHONE_VERIFY={}, DEBUG=False):
        ids = [m.id for m in run_checks()]
    assert "phone_verify.E006" in ids
    with override_settings(PHONE_VERIFY={"ALLOW_CONSOLE_PROVIDER": True}, DEBUG=False):
        ids = [m.id for m in run_checks()]
    assert "phone_verify.E006" not in ids


def test_settings_must_be_a_dict():
    with override_settings(PHONE_VERIFY=["console"]):
        assert [m.id for m in run_checks() if m.id.startswith("phone_verify")] == [
            "phone_verify.E001"
        ]


@pytest.mark.parametrize(
    "fallbacks",
    [["carrier-pigeon"], ["console"], ["fortytwo", "fortytwo"], "telesign", None],
)
def test_fallback_providers_must_be_other_known_providers(fallbacks):
    found = messages(FALLBACK_PROVIDERS=fallbacks)
    assert [m[0] for m in found] == ["phone_verify.E007"]
    assert "FALLBACK_PROVIDERS" in found[0][1]


def test_a_fallback_provider_is_checked_like_the_primary():
    found = messages(FALLBACK_PROVIDERS=["telesign"])  # TeleSign without its options
    assert {m[1] for m in found} == {
        f"PHONE_VERIFY['PROVIDER_OPTIONS']['telesign'][{key!r}] must be set."
        for key in ("URL", "CUSTOMER_ID", "API_KEY")
    }


@pytest.mark.parametrize(
    "rules",
    [{"sends": (1, 60)}, {"send_per_ip_hour": 5}, {"send_per_ip_hour": (0, 60)}, [("a", 1)]],
)
def test_rate_limits_must_be_known_names_with_calls_and_seconds(rules):
    assert [m[0] for m in messages(RATE_LIMITS=rules)] == ["phone_verify.E008"]


def test_rate_limits_may_be_tuned_or_turned_off():
    assert messages(RATE_LIMITS={"send_per_ip_hour": (50, 60), "send_per_phone_hour": None}) == []


@pytest.mark.parametrize(
    ("phone_verify", "check_id", "standard"),
    [
        ({"CODE_LENGTH": 5}, "phone_verify.W402", "NIST SP 800-63B rev. 4, 3.1.3"),
        ({"CODE_LIFETIME": 601}, "phone_verify.W403", "NIST SP 800-63B rev. 4, 3.1.3"),
        ({"MAX_CHECK_ATTEMPTS": 11}, "phone_verify.W404", "OWASP ASVS 5.0"),
        ({"RATE_LIMITS": {"check_per_ip_hour": None}}, "phone_verify.W405", "3.2.2"),
    ],
)
def test_settings_below_the_standards_are_warnings_naming_the_standard(
    phone_verify, check_id, standard
):
    with override_settings(PHONE_VERIFY=phone_verify, DEBUG=True):
        found = [m for m in run_checks() if m.id and m.id.startswith("phone_verify")]
    assert [m.id for m in found] == [check_id]
    [key] = phone_verify
    assert f"PHONE_VERIFY[{key!r}]" in found[0].msg and standard in found[0].hint


@pytest.mark.parametrize(
    "phone_verify",
    [{"CODE_LENGTH": 6}, {"CODE_LIFETIME": 600}, {"MAX_CHECK_ATTEMPTS": 10}],
)
def test_settings_at_the_standards_pass(phone_verify):
    assert messages(**phone_verify) == []


@pytest.mark.parametrize("proxies", [["10.0.0.0/33"], "10.0.0.1", ["proxy.local"]])
def test_trusted_proxies_must_be_addresses_or_networks(proxies):
    assert [m[0] for m in messages(TRUSTED_PROXIES=proxies)] == ["phone_verify.E009"]


def test_every_country_allowed_is_warned_about_by_the_deployment_checks():
    def deploy_ids(**phone_verify):
        with override_settings(PHONE_VERIFY=phone_verify):
            return [m.id for m in run_checks(include_deployment_checks=True)]

    assert "phone_verify.W002" in deploy_ids()
    assert "phone_verify.W002" not in deploy_ids(ALLOWED_COUNTRIES=["FRA"])
    assert "phone_verify.W002" not in [m.id for m in run_checks()]  # not outside --deploy


def test_django_phone_verify_installed_alongside_is_an_error(monkeypatch):
    from phone_verify import checks

    assert checks._other_distributions() == ()  # this environment has only ours
    checks._other_distributions.cache_clear()
    monkeypatch.setattr(
        checks.importlib.metadata,
        "packages_distributions",
        lambda: {"phone_verify": ["phone_verify", "django-phone-verify"]},
    )
    try:
        assert [m[0] for m in messages()] == ["phone_verify.E010"]
        assert "django-phone-verify is installed" in messages()[0][1]
    finally:
        checks._other_distributions.cache_clear()


def test_the_example_project_in_production_meets_the_standards():
    """``manage.py check --deploy`` with the example project's production environment."""
    import os
    import subprocess
    import sys

    from .processes import ROOT, redis_url

    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")},
        "DJANGO_SETTINGS_MODULE": "example_project.settings",
        "DEBUG": "False",
        "SECRET_KEY": "a-production-secret-key-" + "x" * 40,
        "CACHE_URL": redis_url(),
        "DATABASE_URL": "sqlite://:memory:",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert "phone_verify.W002" in output  # the deploy checks did run
    assert not [f"W40{n}" for n in range(1, 6) if f"phone_verify.W40{n}" in output], output


@pytest.mark.parametrize(
    "guard",
    [{"MIN_SEND": 5}, {"MIN_CONVERSION": 1.5}, {"PAUSE": 0}, {"WINDOW": "3600"}, ["MIN_SENDS"]],
)
def test_the_pumping_guard_settings_must_be_known_numbers(guard):
    assert [m[0] for m in messages(PUMPING_GUARD=guard)] == ["phone_verify.E402"]


def test_the_pumping_guard_may_be_tuned_or_turned_off():
    assert messages(PUMPING_GUARD={"MIN_SENDS": 50, "MIN_CONVERSION": 0.1}) == []
    assert messages(PUMPING_GUARD=None) == []
