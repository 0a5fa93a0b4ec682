"""phone_verify.contrib.otp: a login's second factor through django-otp's own forms."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory
from django_otp.forms import OTPAuthenticationForm

from phone_verify.contrib.otp.models import PURPOSE, PhoneVerifyDevice
from phone_verify.models import ConsentRecord, Verification

PHONE = "+33612345678"


@pytest.fixture
def device(db: None, django_user_model: Any) -> PhoneVerifyDevice:
    user = django_user_model.objects.create_user("alice", password="s3cret-pw")
    return PhoneVerifyDevice.objects.create(user=user, name="Mobile", phone_number=PHONE)


class Login:
    """Posts django-otp's ``OTPAuthenticationForm`` as a login page would, committing each
    submission (the code is sent when the transaction commits)."""

    def __init__(self, device: PhoneVerifyDevice, capture: Any) -> None:
        self.device = device
        self.capture = capture

    form_class: Any = OTPAuthenticationForm

    def submit(self, password: str = "s3cret-pw", **otp: str) -> OTPAuthenticationForm:
        data = {
            "username": "alice",
            "password": password,
            "otp_device": self.device.persistent_id,
            **otp,
        }
        form = self.form_class(RequestFactory().post("/login/"), data=data)
        with self.capture(execute=True):
            form.is_valid()
        return form


@pytest.fixture
def login(device: PhoneVerifyDevice, django_capture_on_commit_callbacks: Any) -> Login:
    return Login(device, django_capture_on_commit_callbacks)


def errors(form: OTPAuthenticationForm) -> str:
    return " ".join(form.non_field_errors())


def test_password_then_challenge_then_right_code_logs_in(login: Login, outbox: Any) -> None:
    first = login.submit()
    assert not first.is_valid()
    assert first.get_user() is not None  # the password was right: the form asks for a token

    challenged = login.submit(otp_challenge="1")
    assert "code sent by SMS to +33 6 ** ** *6 78" in errors(challenged)
    code = outbox.last_code(PHONE)
    assert code is not None

    form = login.submit(otp_token=code)
    assert form.is_valid(), form.errors
    assert form.get_user().otp_device == login.device
    verification = Verification.objects.get()
    assert (verification.status, verification.purpose) == ("verified", PURPOSE)
    assert verification.user == login.device.user
    # Proving possession for a login is not a consent: the phone's records are untouched.
    assert not ConsentRecord.objects.exists()


def test_wrong_password_sends_nothing(login: Login, outbox: Any) -> None:
    form = login.submit(password="wrong", otp_challenge="1")
    assert not form.is_valid() and form.get_user() is None
    assert len(outbox) == 0 and not Verification.objects.exists()


def test_wrong_code_fails_and_right_code_is_single_use(login: Login, outbox: Any) -> None:
    login.submit(otp_challenge="1")
    code = outbox.last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    form = login.submit(otp_token=wrong)
    assert not form.is_valid()
    assert "Invalid token" in errors(form)
    assert Verification.objects.get().attempts == 1

    assert login.submit(otp_token=code).is_valid()
    replay = login.submit(otp_token=code)
    assert not replay.is_valid()
    assert "Invalid token" in errors(replay)


def test_five_wrong_codes_lock_even_the_right_one(login: Login, outbox: Any) -> None:
    login.submit(otp_challenge="1")
    code = outbox.last_code(PHONE)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(5):
        assert not login.submit(otp_token=wrong).is_valid()

    refused = login.submit(otp_token=code)
    assert not refused.is_valid()
    assert "5 failed attempts" in errors(refused)
    verification = Verification.objects.get()
    assert (verification.status, verification.reason) == ("failed", "too_many_attempts")
    assert verification.attempts == 5  # the right code was not even evaluated

    # As in the API: the locked verification stays locked, a new challenge starts a new one.
    login.submit(otp_challenge="1")
    assert Verification.objects.count() == 2
    assert login.submit(otp_token=outbox.last_code(PHONE)).is_valid()


def test_second_challenge_resends_with_the_cooldown(login: Login, outbox: Any) -> None:
    login.submit(otp_challenge="1")
    again = login.submit(otp_challenge="1")
    assert "ask again in" in errors(again)
    assert len(outbox) == 1 and Verification.objects.count() == 1


def test_device_admin_lists_masked_numbers(device: PhoneVerifyDevice, staff_client: Any) -> None:
    page = staff_client.get("/admin/phone_verify_otp/phoneverifydevice/").content.decode()
    assert "+33 6 ** ** *6 78" in page
    assert PHONE not in page


def test_device_clean_stores_e164(device: PhoneVerifyDevice) -> None:
    device.phone_number = "+33 6 12 34 56 78"
    device.full_clean()
    assert device.phone_number == PHONE
    device.phone_number = "+33 1 23 45 67 89"  # a landline
    with pytest.raises(Exception, match="cannot receive SMS"):
        device.full_clean()


def test_django_otps_admin_login_form_takes_the_device(login: Login, outbox: Any) -> None:
    from django_otp.admin import OTPAdminAuthenticationForm

    user = login.device.user
    user.is_staff = True
    user.save()
    login.form_class = OTPAdminAuthenticationForm
    login.submit(otp_challenge="1")
    form = login.submit(otp_token=outbox.last_code(PHONE))
    assert form.is_valid(), form.errors
    assert form.get_user().otp_device == login.device
