"""Where codes may go by default: mobile numbers of a country. Satellite and international
network numbers (+870, +881, +882, +883) are typed mobile by phonenumbers but belong to no
country: refused with ``number_not_allowed`` unless the site allows them, and then counted in
a per-country bucket of their own instead of escaping that cap."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.utils import translation

from phone_verify.models import Verification

INMARSAT = "+870301234567"
GMSS = ["+881612345678", "+881612345679", "+881612345670"]
FRENCH_MOBILE = "+33612345678"
FRENCH_PREMIUM_RATE = "+33891234567"


def start(api, phone: str):
    return api.post("verifications/", {"phone_number": phone, "consents": {"sms": True}})


@pytest.mark.parametrize("phone", [GMSS[0], INMARSAT, "+8823421234"])
def test_international_network_numbers_are_refused_by_default(api, outbox, phone):
    answer = start(api, phone)

    assert answer.status_code == 400
    assert answer.json() == {
        "code": "number_not_allowed",
        "detail": "We cannot send codes to satellite or international network numbers.",
    }
    assert not Verification.objects.exists() and len(outbox) == 0


def test_the_refusal_speaks_french_too():
    from phone_verify.exceptions import InvalidPhoneNumber
    from phone_verify.phones import parse_phone

    with translation.override("fr"), pytest.raises(InvalidPhoneNumber) as error:
        parse_phone(GMSS[0])
    assert "numéros satellitaires" in error.value.detail


def test_a_french_premium_rate_number_stays_refused_and_a_french_mobile_is_accepted(api):
    assert start(api, FRENCH_PREMIUM_RATE).json()["code"] == "not_a_mobile_number"
    assert start(api, FRENCH_MOBILE).status_code == 201


def test_allowed_international_networks_are_counted_in_their_own_bucket(api, settings, outbox):
    """With room for two sends per country, two +881 numbers pass and the third is refused,
    while +870 (another network) and France still have their own room."""
    phone_verify = {
        **settings.PHONE_VERIFY,
        "ALLOW_INTERNATIONAL_NETWORKS": True,
        "RATE_LIMITS": {"send_per_country_day": (2, 86_400)},
    }
    with override_settings(PHONE_VERIFY=phone_verify):
        gmss = [start(api, phone).status_code for phone in GMSS]
        inmarsat = start(api, INMARSAT).status_code
        french = start(api, FRENCH_MOBILE).status_code

    assert gmss == [201, 201, 429]
    assert (inmarsat, french) == (201, 201)
    stored = dict(Verification.objects.values_list("phone_number", "country"))
    assert stored == {GMSS[0]: "", GMSS[1]: "", INMARSAT: "", FRENCH_MOBILE: "FRA"}
    assert len(outbox) == 4
