"""The verification flow through the REST API, with the console provider."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from phone_verify.api.serializers import CheckedSerializer
from phone_verify.models import ConsentRecord, DeliveryEvent, Verification

PHONE = "+33612345678"


def settings_with(**options):
    from django.conf import settings

    return override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, **options})


def test_send_then_right_code_verifies_and_records_the_consents(api, outbox):
    consents = {"sms": True, "email": True, "sms2": True, "post5": True}
    response = api.start(PHONE, consents=consents)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "status", "phone_number", "expires_at", "resend_available_at"}
    assert body["phone_number"] == PHONE
    # The send runs once the creating transaction commits: the answer cannot know its outcome.
    assert body["status"] == "pending"
    assert len(outbox) == 1 and outbox[0].phone_number == PHONE
    # The console provider delivers at once.
    assert api.get(f"verifications/{body['id']}/").json()["status"] == "delivered"

    checked = api.check(body["id"], outbox.last_code(PHONE))
    assert checked.status_code == 200, checked.json()
    assert checked.json()["status"] == "verified"
    verified = Verification.objects.get()
    assert checked.json() == {
        "id": body["id"],
        "status": "verified",
        "verified_at": CheckedSerializer()
        .fields["verified_at"]
        .to_representation(verified.verified_at),
    }
    assert checked.json()["verified_at"].endswith(
        "+01:00"
    )  # the project's time zone, like expires_at

    assert api.get(f"verifications/{body['id']}/").json()["status"] == "verified"
    record = ConsentRecord.objects.get(verification_id=body["id"])
    assert record.granted == ["sms", "email", "sms2", "post5"]
    assert record.method == "api" and record.action == "given"
    assert record.seal_is_valid()


def test_national_number_with_country(api):
    response = api.start("06 12 34 56 78", country="FRA")
    assert response.status_code == 201
    assert response.json()["phone_number"] == PHONE
    assert Verification.objects.get().country == "FRA"


def test_five_wrong_codes_lock_the_verification_and_then_the_right_code_is_refused(api, outbox):
    verification_id = api.start().json()["id"]
    right = outbox.last_code(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    answers = [api.check(verification_id, wrong) for _ in range(5)]

    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429]
    assert [a.json().get("attempts_left") for a in answers[:4]] == [4, 3, 2, 1]
    assert all(a.json()["code"] == "invalid_code" for a in answers[:4])
    assert answers[4].json()["code"] == "too_many_attempts"

    late = api.check(verification_id, right)
    assert late.status_code == 429 and late.json()["code"] == "too_many_attempts"
    verification = Verification.objects.get()
    assert verification.status == "failed" and verification.reason == "too_many_attempts"
    assert verification.attempts == 5  # the refused right code was never evaluated


def test_an_expired_code_answers_expired(api, outbox):
    verification_id = api.start().json()["id"]
    Verification.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))

    answer = api.check(verification_id, outbox.last_code(PHONE))

    assert answer.status_code == 400 and answer.json()["code"] == "expired"
    assert Verification.objects.get().status == "expired"
    assert api.get(f"verifications/{verification_id}/").json()["status"] == "expired"


def test_a_verified_code_cannot_be_used_twice(api, outbox):
    verification_id = api.start().json()["id"]
    code = outbox.last_code(PHONE)
    assert api.check(verification_id, code).status_code == 200

    again = api.check(verification_id, code)

    assert again.status_code == 400 and again.json()["code"] == "already_verified"
    assert Verification.objects.get().code_hash == ""


def test_resend_before_the_cooldown_answers_429_with_retry_after(api):
    verification_id = api.start().json()["id"]

    answer = api.post(f"verifications/{verification_id}/resend/")

    assert answer.status_code == 429
    assert answer.json()["code"] == "resend_too_soon"
    assert 1 <= int(answer["Retry-After"]) <= 30


def test_resend_after_the_cooldown_sends_a_new_code_and_only_it_works(api, outbox):
    verification_id = api.start().json()["id"]
    first = outbox.last_code(PHONE)
    Verification.objects.update(last_sent_at=timezone.now() - dt.timedelta(seconds=31))

    answer = api.post(f"verifications/{verification_id}/resend/")

    assert answer.status_code == 202, answer.json()
    assert len(outbox) == 2
    second = outbox.last_code(PHONE)
    verification = Verification.objects.get()
    assert (verification.sends, verification.sends_done) == (2, 2)
    assert DeliveryEvent.objects.filter(kind="send").count() == 2
    if first != second:
        assert api.check(verification_id, first).json()["code"] == "invalid_code"
    assert api.check(verification_id, second).status_code == 200


def test_sends_are_capped(api):
    verification_id = api.start().json()["id"]
    with settings_with(RESEND_COOLDOWN=0, MAX_SENDS=2):
        assert api.post(f"verifications/{verification_id}/resend/").status_code == 202
        third = api.post(f"verifications/{verification_id}/resend/")
    assert third.status_code == 429 and third.json()["code"] == "too_many_sends"


def test_get_answers_the_current_status(api):
    body = api.start().json()
    answer = api.get(f"verifications/{body['id']}/")
    assert answer.status_code == 200
    assert answer.json() == {**body, "status": "delivered"}


@pytest.mark.parametrize("attempts", [1, 3])
def test_max_check_attempts_is_a_setting(api, outbox, attempts):
    with settings_with(MAX_CHECK_ATTEMPTS=attempts):
        verification_id = api.start().json()["id"]
        wrong = "999999" if outbox.last_code(PHONE) != "999999" else "888888"
        codes = [api.check(verification_id, wrong).status_code for _ in range(attempts)]
    assert codes == [400] * (attempts - 1) + [429]


def test_services_and_the_api_take_a_phone_number_object(api, outbox):
    from phonenumber_field.phonenumber import PhoneNumber

    from phone_verify import services
    from phone_verify.api.serializers import StartVerificationSerializer

    number = PhoneNumber.from_string("06 12 34 56 78", region="FR")
    verification = services.start_verification(number, consents={"sms": True})
    assert verification.phone_number == PHONE
    assert ConsentRecord.objects.get().phone_number == PHONE
    withdrawn = services.withdraw_consent(number)
    assert withdrawn.phone_number == PHONE and not withdrawn.granted
    serializer = StartVerificationSerializer(data={"phone_number": number})
    assert serializer.is_valid() and serializer.validated_data["phone_number"] == PHONE


def test_national_number_with_an_alpha2_country(api):
    # django-phonenumber-field's widget names regions in alpha-2; the page's script sends that.
    response = api.start("06 12 34 56 78", country="FR")
    assert response.status_code == 201, response.json()
    assert Verification.objects.get().country == "FRA"
