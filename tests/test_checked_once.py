"""A flow checks each input once, where it enters: a phone number's trip from the API or the
signup form to the provider parses the number once and checks the consents once.

The checks are counted wherever they are called from: every ``phone_verify`` module holding
``parse_phone`` or ``clean_consents`` gets the counting one, and ``phonenumbers``' own validity
test (which django-phonenumber-field's validators call too) is counted as well.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import phonenumbers
import pytest

from phone_verify import consents, forms, phones
from phone_verify.models import ConsentRecord, Verification

PHONE = "+33612345678"


@pytest.fixture
def checks(monkeypatch) -> Counter:
    """How many times each check ran, from anywhere."""
    calls: Counter = Counter()

    def counting(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        return counted

    for name, original in [
        ("parse_phone", phones.parse_phone),
        ("clean_consents", consents.clean_consents),
    ]:
        wrapper = counting(name, original)
        for module_name, module in list(sys.modules.items()):
            if module_name.startswith("phone_verify") and getattr(module, name, None) is original:
                monkeypatch.setattr(module, name, wrapper)
    monkeypatch.setattr(
        phonenumbers, "is_valid_number", counting("is_valid_number", phonenumbers.is_valid_number)
    )
    return calls


def test_the_counting_sees_a_check_from_any_module(checks):
    forms.PhoneNumberField().clean(["FR", "06 12 34 56 78"])
    phones.as_parsed(PHONE)
    assert checks == Counter(parse_phone=2, is_valid_number=2)


def test_an_api_start_checks_the_number_and_the_consents_once(api, outbox, checks):
    answer = api.start(PHONE, consents={"sms": True, "email2": True})

    assert answer.status_code == 201
    assert len(outbox) == 1  # the send went to the provider within the request's commit
    assert checks == Counter(parse_phone=1, is_valid_number=1, clean_consents=1)
    record = ConsentRecord.objects.get(verification_id=answer.json()["id"])
    assert record.granted == ["sms", "email2"]


SIGNUP = {
    "phone_number_country": "FR",
    "phone_number_number": "06 12 34 56 78",
    "consents_sms": "1",
    "consents_post": "1",
}


def test_the_signup_form_checks_the_number_and_the_consents_once(web, outbox, checks):
    web.get("/signup/")
    checks.clear()
    sent = web.post("/signup/", {**SIGNUP, "phone_verify_action": "send"})

    assert sent.status_code == 200 and "We sent you a code." in sent.content.decode()
    assert len(outbox) == 1
    assert checks == Counter(parse_phone=1, is_valid_number=1, clean_consents=1)
    verification = Verification.objects.get()
    assert (verification.phone_number, verification.country) == (PHONE, "FRA")
    assert verification.consent_records.get().granted == ["sms", "post"]

    # The submission that checks the code, makes the user and records the boxes ticked then
    # (one fewer: a new record) is a new entrance: again one check of each.
    checks.clear()
    done = web.post(
        "/signup/",
        {
            **{key: value for key, value in SIGNUP.items() if key != "consents_post"},
            "username": "ada",
            "password1": "xK9!analytical-engine",
            "password2": "xK9!analytical-engine",
            "verification_id": str(verification.pk),
            "code": outbox.last_code(PHONE),
        },
    )

    assert done.status_code == 302
    assert checks == Counter(parse_phone=1, is_valid_number=1, clean_consents=1)
    latest = verification.consent_records.order_by("-created_at", "-id").first()
    assert latest.granted == ["sms"]
    assert Verification.objects.get(pk=verification.pk).user.username == "ada"
