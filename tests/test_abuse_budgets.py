"""Budgets keyed on who spends them, tried as an attacker would: from several client addresses,
each request in a fresh browser session (a new API client, so a new session cookie).

- A stranger cannot lock the owner of a number out: with every send and wrong guess it is
  allowed from 3 addresses, the owner still verifies.
- Guesses on one number are bounded by the sends to it, whatever the number of addresses:
  at most ``limits.guessing_bound()`` per hour and per day, and at most 1,000 a day.

The clock is moved with time-machine; nothing sleeps.
"""

from __future__ import annotations

import datetime as dt

import time_machine
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings
from rest_framework.test import APIClient

from phone_verify import limits
from phone_verify.conf import app_settings
from phone_verify.models import Verification

PHONE = "+33612345678"
START = dt.datetime(2026, 11, 23, 9, 0, 0, tzinfo=dt.UTC)


class Browser:
    """One browser session at one client address, talking to the API as the page's script
    does (its transactions commit, so codes are sent)."""

    def __init__(self, capture, address: str) -> None:
        self.client = APIClient()
        # What the signup page does for a browser: a new session, its cookie set.
        session = SessionStore()
        session["phone_verify"] = True
        session.save()
        self.client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
        self.capture = capture
        self.address = address

    def post(self, path: str, data: dict | None = None):
        with self.capture(execute=True):
            return self.client.post(
                "/api/phone-verify/" + path, data or {}, format="json", REMOTE_ADDR=self.address
            )

    def start(self):
        return self.post("verifications/", {"phone_number": PHONE, "consents": {"sms": True}})

    def check(self, verification_id: str, code: str):
        return self.post(f"verifications/{verification_id}/check/", {"code": code})


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_stranger_from_three_addresses_cannot_lock_the_owner_out(
    db, django_capture_on_commit_callbacks, outbox
):
    capture = django_capture_on_commit_callbacks
    with time_machine.travel(START, tick=False) as clock:
        owner = Browser(capture, "192.0.2.10")
        before = owner.start()
        assert before.status_code == 201
        owners_code = outbox.last_code(PHONE)

        # The attack: every send and every wrong guess allowed, from 3 addresses, each
        # verification in a fresh session (guesses on it must come from its session).
        sends: list[int] = []
        for address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
            for _ in range(4):  # more than the address may send
                stranger = Browser(capture, address)
                started = stranger.start()
                sends.append(started.status_code)
                if started.status_code != 201:
                    continue
                verification_id = started.json()["id"]
                clock.shift(31)  # past the resend cooldown (the owner's code still lives)
                sends.append(stranger.post(f"verifications/{verification_id}/resend/").status_code)
                guess = wrong(outbox.last_code(PHONE))
                guesses = [
                    stranger.check(verification_id, guess).status_code
                    for _ in range(app_settings.MAX_CHECK_ATTEMPTS + 2)
                ]
                assert guesses == [400] * 4 + [429] * 3  # the last allowed one locks it
                # and the owner's verification: another session cannot even reach it
                stolen = stranger.check(before.json()["id"], owners_code)
                assert stolen.status_code == 404
        per_client = limits.limit("send_per_phone_client_hour")[0]
        assert sends.count(201) + sends.count(202) == 3 * per_client == 6

        # (a) the verification the owner started before the attack takes the right code
        clock.shift(30)
        checked = owner.check(before.json()["id"], owners_code)
        assert checked.status_code == 200, checked.json()
        assert checked.json()["status"] == "verified"

        # (b) from a fourth address, in a fresh session, the owner starts again and verifies
        later = Browser(capture, "198.51.100.4")
        again = later.start()
        assert again.status_code == 201, again.json()
        verified = later.check(again.json()["id"], outbox.last_code(PHONE))
        assert verified.status_code == 200 and verified.json()["status"] == "verified"
    # every wrong guess was evaluated on the stranger's own verifications only
    strangers = Verification.objects.exclude(ip__in=["192.0.2.10", "198.51.100.4"])
    assert set(strangers.values_list("attempts", flat=True)) == {app_settings.MAX_CHECK_ATTEMPTS}


def attack(capture, outbox, *, minutes: int, addresses: int = 20) -> int:
    """Every minute, from the next of ``addresses`` addresses in fresh sessions: start a
    verification of the number and guess wrong until refused. Answers the guesses evaluated."""
    with time_machine.travel(START, tick=False) as clock:
        for minute in range(minutes):
            address = f"203.0.113.{minute % addresses + 1}"
            attacker = Browser(capture, address)
            started = attacker.start()
            if started.status_code == 201:
                verification_id = started.json()["id"]
                guess = wrong(outbox.last_code(PHONE))
                while attacker.check(verification_id, guess).status_code == 400:
                    pass
            clock.shift(60)
    return sum(Verification.objects.values_list("attempts", flat=True))


def test_an_hour_of_guessing_from_20_addresses_stays_within_the_documented_bound(
    db, django_capture_on_commit_callbacks, outbox, numbers
):
    per_hour, per_day = limits.guessing_bound()
    assert (per_hour, per_day) == (80, 1000)  # as the README's "Limits and abuse" says
    assert per_day <= 1000  # one chance in 1,000 a day for a 6-digit code

    evaluated = attack(django_capture_on_commit_callbacks, outbox, minutes=60)

    numbers(f"20 addresses, one hour: {evaluated} guesses evaluated (bound {per_hour})")
    assert evaluated <= per_hour
    # the number's send budget is what held: 8 verifications, each guessed to its lock
    assert evaluated == limits.limit("send_per_phone_hour")[0] * app_settings.MAX_CHECK_ATTEMPTS


def test_a_day_of_guessing_stays_within_the_daily_bound(
    db, django_capture_on_commit_callbacks, outbox, numbers
):
    """A day in 10-minute steps (a verification every 10 minutes could use 144 x 5 guesses;
    the bound is what holds), on a smaller budget to keep the test short."""
    rules = {"send_per_phone_hour": (2, 3600)}
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "RATE_LIMITS": rules}):
        _, per_day = limits.guessing_bound()
        with time_machine.travel(START, tick=False) as clock:
            for step in range(24 * 6):
                address = f"203.0.113.{step % 20 + 1}"
                attacker = Browser(django_capture_on_commit_callbacks, address)
                started = attacker.start()
                if started.status_code == 201:
                    guess = wrong(outbox.last_code(PHONE))
                    while attacker.check(started.json()["id"], guess).status_code == 400:
                        pass
                clock.shift(600)
    evaluated = sum(Verification.objects.values_list("attempts", flat=True))
    numbers(f"one day, 2 sends an hour: {evaluated} guesses evaluated (bound {per_day})")
    assert evaluated <= per_day == 2 * 5 * 25
    assert evaluated == 24 * 2 * 5  # a verification in each of 2 steps of every hour
