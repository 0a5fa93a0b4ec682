"""WebOTP: the SMS texts we write end with "@<domain> #<code>" and still fit one GSM-7 SMS.

The browser side (the page fills and checks the code) is in test_browser.py.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.test import override_settings

from phone_verify.providers.base import OutgoingCode
from phone_verify.providers.console import ConsoleProvider, message_text
from phone_verify.providers.fortytwo import FortytwoProvider
from phone_verify.providers.telesign import TeleSignProvider
from phone_verify.sms import GSM7_LIMIT, sms_length

# A long but real-looking host name: the worst case a site is likely to set.
DOMAIN = "signup.verification.example-company.co.uk"
TELESIGN = {"URL": "https://ts.test", "CUSTOMER_ID": "c", "API_KEY": "a2V5", "CODE_MODE": "local"}


def webotp(settings, domain=DOMAIN, **phone_verify):
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "WEBOTP_DOMAIN": domain, **phone_verify}


def outgoing(code: str | None, language: str = "en") -> OutgoingCode:
    return OutgoingCode(
        verification_id=uuid.uuid4(),
        phone_number="+33612345678",
        country="FRA",
        send_number=1,
        lifetime=300,
        code=code,
        language=language,
    )


def assert_one_gsm7_sms(text: str) -> None:
    units, limit = sms_length(text)
    assert limit == GSM7_LIMIT, f"not GSM-7: {text!r}"
    assert units <= GSM7_LIMIT, f"{units} septets: {text!r}"


@pytest.mark.parametrize("language", [code for code, _ in django_settings.LANGUAGES])
def test_the_console_sms_ends_with_the_webotp_line_in_each_language(settings, outbox, language):
    webotp(settings, CODE_LENGTH=10)  # the longest code we generate
    ConsoleProvider().send(outgoing("0123456789", language))
    text = outbox[-1].text
    assert text.endswith(f"\n\n@{DOMAIN} #0123456789")
    assert text.count("0123456789") == 2
    assert_one_gsm7_sms(text)


def test_the_console_text_speaks_the_users_language():
    assert message_text("123456", "en") == "Your verification code is 123456."
    assert message_text("123456", "fr").startswith("Votre code de vérification")


def test_no_domain_no_webotp_line(outbox):
    ConsoleProvider().send(outgoing("123456"))
    assert "@" not in outbox[-1].text and "#" not in outbox[-1].text


def test_fortytwo_template_gets_the_line_with_its_placeholder(settings):
    webotp(settings, CODE_LENGTH=20)  # Fortytwo's longest code
    provider = FortytwoProvider({"URL": "https://ft.test", "TOKEN": "t"})
    body = provider.build_send_request(outgoing(None)).json
    template = body["message_template"]
    assert template == f"Your authentication code is: {{#TFA_CODE}}\n\n@{DOMAIN} #{{#TFA_CODE}}"
    assert_one_gsm7_sms(template.replace("{#TFA_CODE}", "7" * 20))
    assert not [m for m in provider.check_configuration() if m.id == "phone_verify.E203"]


def test_fortytwo_template_too_long_with_the_line_is_refused(settings):
    webotp(settings)
    text = "Code {#TFA_CODE} " + "x" * 120  # fits alone, not with the WebOTP line
    provider = FortytwoProvider({"URL": "https://ft.test", "TOKEN": "t", "MESSAGE_TEMPLATE": text})
    (error,) = [m for m in provider.check_configuration() if m.id == "phone_verify.E203"]
    assert "WebOTP line" in error.msg


def test_telesign_local_code_template_gets_the_line_with_our_code(settings):
    webotp(settings, CODE_LENGTH=7)
    options = {**TELESIGN, "TEMPLATE": "Votre code ACME : $$CODE$$"}
    provider = TeleSignProvider(options)
    form = dict(
        pair.split("=", 1)
        for pair in provider.build_send_request(outgoing("1234567")).data.split("&")
    )
    from urllib.parse import unquote_plus

    template = unquote_plus(form["template"])
    assert template == f"Votre code ACME : $$CODE$$\n\n@{DOMAIN} #1234567"
    assert_one_gsm7_sms(template.replace("$$CODE$$", "1234567"))
    assert not [m for m in provider.check_configuration() if m.id == "phone_verify.E302"]


def test_telesign_own_codes_get_no_line(settings):
    # TeleSign makes the code and fills $$CODE$$ once: we cannot write the code a second time.
    webotp(settings)
    provider = TeleSignProvider({**TELESIGN, "CODE_MODE": "telesign", "TEMPLATE": "$$CODE$$"})
    assert parse_qs(provider.build_send_request(outgoing(None)).data)["template"] == ["$$CODE$$"]


@pytest.mark.parametrize(
    "domain", ["https://example.com", "example.com:8000", "Example.com", "exämple.com", 3]
)
def test_a_bad_webotp_domain_is_an_error_naming_the_key(domain):
    with override_settings(PHONE_VERIFY={"WEBOTP_DOMAIN": domain}, DEBUG=True):
        errors = [m for m in run_checks() if m.id == "phone_verify.E020"]
    assert len(errors) == 1 and "WEBOTP_DOMAIN" in errors[0].msg


def test_a_host_name_is_a_good_webotp_domain():
    with override_settings(PHONE_VERIFY={"WEBOTP_DOMAIN": "xn--exmple-cua.com"}, DEBUG=True):
        assert not [m for m in run_checks() if m.id == "phone_verify.E020"]
