"""Retention (``phone_verify_purge``) and subject access (``phone_verify_export``)."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from phone_verify import tasks
from phone_verify.models import ConsentRecord, DeliveryEvent, Verification

PHONE = "+33612345678"


@pytest.fixture
def history(api, outbox):
    """Two old verifications (one a consent record points to, one without) and a recent one."""
    body = {"phone_number": PHONE, "consents": {"sms": True}}
    proof = api.post("verifications/", body, REMOTE_ADDR="203.0.113.7").json()["id"]
    api.check(proof, outbox.last_code(PHONE))
    recent = api.start("+33698765432", consents={"post": True}).json()["id"]
    orphan = Verification.objects.create(
        phone_number=PHONE,
        country="FRA",
        provider="console",
        expires_at=timezone.now(),
        ip="203.0.113.8",
    )
    DeliveryEvent.objects.create(verification=orphan, kind="send", provider="console")
    old = timezone.now() - dt.timedelta(days=91)
    Verification.objects.filter(pk__in=[proof, orphan.pk]).update(created_at=old)
    return proof, str(orphan.pk), recent


def purge(*args: str) -> str:
    out = StringIO()
    call_command("phone_verify_purge", *args, stdout=out)
    return out.getvalue()


def test_dry_run_counts_and_changes_nothing(history):
    before = (Verification.objects.count(), DeliveryEvent.objects.count())

    said = purge("--dry-run")

    assert said == (
        "Would remove: 1 verifications deleted, 1 verifications reduced to proof, "
        "2 delivery events deleted, 0 identity prefills blanked, "
        "0 identity prefills deleted\n"
    )
    assert (Verification.objects.count(), DeliveryEvent.objects.count()) == before


def test_purge_keeps_consent_records_and_their_proof(history):
    proof, orphan, recent = history
    records = {r.pk: r.seal for r in ConsentRecord.objects.all()}

    purge()

    assert not Verification.objects.filter(pk=orphan).exists()
    kept = Verification.objects.get(pk=proof)
    assert (kept.ip, kept.user_agent, kept.code_hash) == (None, "", "")
    assert (kept.phone_number, kept.status, kept.provider) == (PHONE, "verified", "console")
    assert kept.verified_at is not None and not kept.events.exists()
    assert Verification.objects.get(pk=recent).events.count() == 1  # recent: untouched
    after = ConsentRecord.objects.all()
    assert {r.pk: r.seal for r in after} == records and all(r.seal_is_valid() for r in after)
    assert purge("--dry-run").startswith("Would remove: 0 verifications deleted, 0 verifications")


def test_the_celery_task_purges_the_same(history):
    assert tasks.purge_expired_data.delay().get() == {
        "verifications_deleted": 1,
        "verifications_reduced_to_proof": 1,
        "delivery_events_deleted": 2,
        "identity_prefills_blanked": 0,
        "identity_prefills_deleted": 0,
    }


def test_export_prints_everything_held_about_a_number(history):
    out = StringIO()
    call_command("phone_verify_export", "--phone", "06 12 34 56 78", stdout=out)
    data = json.loads(out.getvalue())

    assert data["phone_number"] == PHONE
    assert len(data["verifications"]) == 2  # the other number's is not there
    assert [len(v["delivery_events"]) for v in data["verifications"]] == [1, 1]
    assert data["consent_records"][0]["sms"] is True
    assert data["consent_records"][0]["ip"] == "203.0.113.7"
    assert "code_hash" not in out.getvalue()


def test_export_refuses_what_is_not_a_number(db):
    with pytest.raises(CommandError, match="not a valid phone number"):
        call_command("phone_verify_export", "--phone", "hello")
