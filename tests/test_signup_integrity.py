"""Signup under abuse: two submissions racing on one verification make one account (the other
gets a form error, never a 500), and consent is recorded once per decision, not per post."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from phone_verify.forms import PhoneVerificationFormMixin
from phone_verify.models import ConsentRecord, Verification

from .test_concurrency import in_threads
from .test_forms import ACCOUNT, PHONE_FIELDS, verified_through_the_api


def signup_post(client: Client, verification_id: str, **fields: str):
    return client.post(
        "/signup/",
        {**ACCOUNT, **PHONE_FIELDS, "verification_id": verification_id, **fields},
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_signups_on_one_verification_make_one_account(outbox, monkeypatch):
    browser = Client()
    browser.get("/signup/")
    verification_id = verified_through_the_api(browser, outbox, {"sms": True})
    # Both submissions pass the form's checks before either saves: the race the database
    # must settle (without this, the later one may simply see the verification used).
    both_cleaned = threading.Barrier(2, timeout=20)
    clean = PhoneVerificationFormMixin.clean

    def clean_then_wait(form):
        cleaned = clean(form)
        both_cleaned.wait()
        return cleaned

    monkeypatch.setattr(PhoneVerificationFormMixin, "clean", clean_then_wait)
    names = iter(["ada", "grace"])
    lock = threading.Lock()

    def submit():
        with lock:
            name = next(names)
        tab = Client()  # another tab of the same browser: the same session cookie
        tab.cookies.load({name: morsel.value for name, morsel in browser.cookies.items()})
        return name, signup_post(tab, verification_id, username=name, consents_post="1")

    answers = dict(in_threads(2, submit))

    statuses = sorted(response.status_code for response in answers.values())
    assert statuses == [200, 302]
    loser = next(response for response in answers.values() if response.status_code == 200)
    assert "already used to sign up" in loser.content.decode()
    user = User.objects.get()  # exactly one account, and it has the verified phone
    assert Verification.objects.get(pk=verification_id).user == user
    assert answers[user.username].status_code == 302
    # The record made when the code was asked for, and the winner's; nothing from the loser.
    records = ConsentRecord.objects.filter(verification_id=verification_id).order_by("id")
    assert [record.granted for record in records] == [["sms"], ["post"]]
    connection.close()


def test_failed_signup_posts_record_no_consent_and_a_success_records_it_once(web, outbox):
    web.get("/signup/")
    verification_id = verified_through_the_api(web, outbox, {"sms": True})
    assert ConsentRecord.objects.count() == 1  # the record made when the code was asked for

    channels = ["email", "phone", "post", "sms2", "email3"]
    for attempt in range(20):
        tick = {f"consents_{channels[attempt % len(channels)]}": "1"}
        failed = signup_post(web, verification_id, password2="not the same", **tick)
        assert failed.status_code == 200
    assert ConsentRecord.objects.count() == 1 and not User.objects.exists()

    done = signup_post(web, verification_id, consents_email="1", consents_post="1")

    assert done.status_code == 302
    assert ConsentRecord.objects.count() == 2
    latest = ConsentRecord.objects.latest("created_at", "id")
    assert latest.granted == ["email", "post"] and latest.verification_id is not None
    assert Verification.objects.get(pk=verification_id).user.username == "ada"


def test_losing_the_race_between_check_and_save_is_a_form_error_and_no_account(
    web, outbox, monkeypatch
):
    web.get("/signup/")
    verification_id = verified_through_the_api(web, outbox, {"sms": True})
    clean = PhoneVerificationFormMixin.clean

    def clean_then_lose(form):
        cleaned = clean(form)
        # Another tab's signup commits now, between this one's checks and its save.
        Verification.objects.filter(pk=verification_id).update(
            user=User.objects.create_user("grace")
        )
        return cleaned

    monkeypatch.setattr(PhoneVerificationFormMixin, "clean", clean_then_lose)

    page = signup_post(web, verification_id)

    assert page.status_code == 200
    assert "already used to sign up" in page.content.decode()
    assert list(User.objects.values_list("username", flat=True)) == ["grace"]  # no "ada"
    assert ConsentRecord.objects.count() == 1
