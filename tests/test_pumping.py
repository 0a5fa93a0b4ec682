"""The pumping guard, tried as a pumping attack runs: many addresses texting numbers of one
range and never entering a code, while real users of another range verify theirs. The guard
pauses the first range early, never the second; the pause shows in the admin, where lifting it
lets sends through again."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from django.utils import translation

from phone_verify import pumping
from phone_verify.models import PausedPrefix, Verification
from phone_verify.signals import prefix_paused

ATTACKED = [f"+3361234{n * 50:04d}" for n in range(200)]  # 200 numbers of one 10,000 range
LEGIT = [f"+3369876{n * 300:04d}" for n in range(30)]  # 30 numbers of another range


def start(api, phone: str, address: str):
    return api.post(
        "verifications/",
        {"phone_number": phone, "consents": {"sms": True}},
        REMOTE_ADDR=address,
    )


@pytest.fixture
def paused_signals():
    received: list = []

    def receiver(sender, pause, **kwargs):
        received.append(pause)

    prefix_paused.connect(receiver)
    yield received
    prefix_paused.disconnect(receiver)


def run_attack(api, outbox) -> tuple[list, list]:
    """200 sends to the attacked range from 50 addresses, never verified; between them, 30
    sends to the legit range from 30 other addresses, each verified at once."""
    attack, legit = [], []
    for n, phone in enumerate(ATTACKED):
        attack.append(start(api, phone, f"203.0.113.{n % 50 + 1}"))
        if n % 6 == 0 and len(legit) < len(LEGIT):
            user = LEGIT[len(legit)]
            started = start(api, user, f"198.51.100.{len(legit) + 1}")
            checked = api.check(started.json()["id"], outbox.last_code(user))
            legit.append((started.status_code, checked.status_code))
    return attack, legit


def test_pumping_one_range_is_paused_early_and_a_converting_range_never(
    api, outbox, caplog, paused_signals
):
    with caplog.at_level(logging.INFO, logger="phone_verify"):
        attack, legit = run_attack(api, outbox)

    accepted = [a for a in attack if a.status_code == 201]
    refused = [a for a in attack if a.status_code != 201]
    assert len(accepted) <= 30
    assert len(accepted) == pumping.GUARD_DEFAULTS["MIN_SENDS"]
    assert {(a.status_code, a.json()["code"]) for a in refused} == {(429, "suspected_fraud")}
    assert all(0 < int(a["Retry-After"]) <= 3600 for a in refused)
    assert legit == [(201, 200)] * 30  # every real user got and used a code

    [pause] = PausedPrefix.objects.all()
    assert pause.prefix == "+33 61234" and pause.in_force
    assert (pause.sends, pause.verified) == (20, 0)
    assert paused_signals == [pause]  # once per pause, not once per refused request
    logged = [r.getMessage() for r in caplog.records if "pumping guard" in r.getMessage()]
    assert logged == [
        "pumping guard: sends to +33 61234 paused for 3600 s: 20 codes sent, 0 verified in 3600 s"
    ]
    assert Verification.objects.filter(phone_number__in=ATTACKED).count() == 20


def test_the_pause_shows_in_the_admin_and_lifting_it_lets_sends_through(api, outbox, staff_client):
    run_attack(api, outbox)
    assert start(api, ATTACKED[0], "192.0.2.99").status_code == 429

    page = staff_client.get("/admin/phone_verify/pausedprefix/").content.decode()
    assert "+33 61234" in page

    pause = PausedPrefix.objects.get()
    done = staff_client.post(
        "/admin/phone_verify/pausedprefix/",
        {"action": "lift_pauses", "_selected_action": [pause.pk]},
    )
    assert done.status_code == 302
    pause.refresh_from_db()
    assert pause.lifted_by == "root" and not pause.in_force

    again = start(api, ATTACKED[-1], "192.0.2.99")  # a block the attack did not reach
    assert again.status_code == 201, again.json()


def test_the_form_says_so_in_french(web, settings, outbox):
    guard = {"MIN_SENDS": 1, "MIN_CONVERSION": 0.5}
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "PUMPING_GUARD": guard}):
        data = {
            "username": "ada",
            "password1": "xK9!analytical-engine",
            "password2": "xK9!analytical-engine",
            "phone_number_country": "FR",
            "consents_sms": "1",
            "phone_verify_action": "send",
        }
        first = web.post("/signup/", {**data, "phone_number_number": "06 12 34 00 01"})
        with translation.override("fr"):
            second = web.post(
                "/signup/",
                {**data, "phone_number_number": "06 12 34 00 02"},
                headers={"Accept-Language": "fr"},
            )
    assert "We sent you a code." in first.content.decode()
    page = second.content.decode().replace("&#x27;", "'")
    assert "Nous ne pouvons pas envoyer de code à ce numéro pour le moment" in page
    assert len(outbox) == 1


def test_the_guard_can_be_turned_off(api, settings):
    with override_settings(PHONE_VERIFY={**settings.PHONE_VERIFY, "PUMPING_GUARD": None}):
        codes = {
            start(api, phone, f"203.0.113.{n + 1}").status_code
            for n, phone in enumerate(ATTACKED[:25])
        }
    assert codes == {201} and not PausedPrefix.objects.exists()
