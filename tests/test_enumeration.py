"""Nothing to learn by trying ids or numbers: an id another browser session started answers
exactly as an id that does not exist, and starting a verification answers the same whether the
number is new, already verified, or tied to an account."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client

from phone_verify import services
from phone_verify.exceptions import VerificationNotFound
from phone_verify.status import CheckOutcome

PHONE = "+33612345678"
API = "/api/phone-verify/verifications/"


def browser(capture) -> Client:
    """A browser that has a session (it opened the signup page)."""
    from .conftest import CommittingClient

    client = CommittingClient()
    client.capture = capture
    client.get("/signup/")
    return client


def call(client: Client, method: str, verification_id: str, action: str = ""):
    path = f"{API}{verification_id}/{action + '/' if action else ''}"
    data = {"code": "000000"} if action == "check" else {}
    answer = getattr(client, method)(path, data, content_type="application/json")
    return answer.status_code, answer.json()


@pytest.mark.parametrize(("method", "action"), [("get", ""), ("post", "check"), ("post", "resend")])
def test_an_id_of_another_session_answers_as_an_unknown_id(
    db, django_capture_on_commit_callbacks, method, action
):
    owner = browser(django_capture_on_commit_callbacks)
    created = owner.post(
        API, {"phone_number": PHONE, "consents": {"sms": True}}, content_type="application/json"
    )
    verification_id = created.json()["id"]
    stranger = browser(django_capture_on_commit_callbacks)
    no_cookie = Client()

    unknown = call(stranger, method, str(uuid.uuid4()), action)
    assert unknown[0] == 404
    assert call(stranger, method, verification_id, action) == unknown
    assert call(no_cookie, method, verification_id, action) == unknown
    assert call(owner, method, verification_id, action)[0] != 404


def test_without_a_session_cookie_the_id_is_the_key(api):
    verification_id = api.start(PHONE, consents={"sms": True}).json()["id"]
    assert Client().get(f"{API}{verification_id}/").status_code == 200


def test_starting_reveals_nothing_about_the_number(api, outbox):
    known = api.start(PHONE, consents={"sms": True}).json()
    api.check(known["id"], outbox.last_code(PHONE))
    services.link_user(known["id"], User.objects.create_user("ada"))
    other = "+33698765432"

    again = api.start(PHONE, consents={"sms": True})
    fresh = api.start(other, consents={"sms": True})

    assert again.status_code == fresh.status_code == 201
    shape = {key: type(value) for key, value in again.json().items()}
    assert shape == {key: type(value) for key, value in fresh.json().items()}
    assert again.json()["status"] == fresh.json()["status"] == "pending"


def test_the_app_itself_reaches_a_session_bound_verification(db):
    """Tasks and other callers without a session (``session=None``) act for the app, not for a
    client: the binding does not apply to them (TeleSign's completion report, for one)."""
    from django.contrib.sessions.backends.db import SessionStore

    browser_session = SessionStore()
    browser_session.save()
    verification = services.start_verification(
        PHONE, consents={"sms": True}, session=browser_session
    )

    assert verification.session_bound
    assert services.get_verification(verification.pk) == verification
    # services.report_completion (TeleSign's task) looks it up this way.
    outcome = services.check_code(verification.pk, "000000").outcome
    assert outcome in (CheckOutcome.INVALID, CheckOutcome.VERIFIED)
    with pytest.raises(VerificationNotFound):
        services.get_verification(verification.pk, session=SessionStore())
