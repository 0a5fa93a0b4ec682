"""What is stored: never a code in clear; consent records append-only and sealed."""

from __future__ import annotations

import pytest
from django.db import connection

from phone_verify import services
from phone_verify.codes import code_matches, generate_code, hash_code
from phone_verify.models import AppendOnlyError, ConsentRecord, Verification

PHONE = "+33612345678"


def all_stored_text() -> str:
    """Every text value of every row of every table (JSON included).

    Numbers and dates are left out: a timestamp's microseconds are six digits too, and
    would match a code by chance about once in a few thousand runs.
    """
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            chunks.extend(
                str(value)
                for row in cursor.fetchall()
                for value in row
                if isinstance(value, str | dict | list | bytes | memoryview)
            )
    return "\n".join(chunks)


def test_no_table_ever_holds_a_code_in_clear(api, outbox):
    # three clients (one address may send a number 2 codes an hour)
    ids = [
        api.post(
            "verifications/",
            {"phone_number": PHONE, "consents": {"sms": True}},
            REMOTE_ADDR=f"203.0.113.{n}",
        ).json()["id"]
        for n in range(1, 4)
    ]
    codes = [message.code for message in outbox]
    assert len(codes) == 3

    stored = all_stored_text()
    for code in codes:
        assert code not in stored, [line for line in stored.splitlines() if code in line]
    verification = Verification.objects.get(pk=ids[0])
    assert len(verification.code_hash) == 64 and codes[0] not in verification.code_hash


def test_codes_are_random_digits_hashed_with_a_key_and_compared_safely(settings):
    codes = {generate_code(6) for _ in range(200)}
    assert len(codes) > 190 and all(len(c) == 6 and c.isdigit() for c in codes)
    assert generate_code(8).isdigit() and len(generate_code(8)) == 8

    digest = hash_code("some-id", "123456")
    assert code_matches("some-id", "123456", digest)
    assert not code_matches("some-id", "123457", digest)
    assert not code_matches("other-id", "123456", digest)  # bound to the verification
    assert not code_matches("some-id", "123456", "")
    settings.SECRET_KEY = "another-secret-key-entirely-for-this-test-0123456789"
    assert not code_matches("some-id", "123456", digest)  # useless without SECRET_KEY


def record(**flags):
    return services.record_consent(PHONE, flags)


def test_updating_a_consent_record_raises(db):
    consent = record(sms=True)
    consent.sms = False
    with pytest.raises(AppendOnlyError):
        consent.save()
    with pytest.raises(AppendOnlyError):
        ConsentRecord.objects.filter(pk=consent.pk).update(sms=False)
    assert ConsentRecord.objects.get().sms is True


def test_deleting_a_consent_record_raises(db):
    consent = record(sms=True)
    with pytest.raises(AppendOnlyError):
        consent.delete()
    with pytest.raises(AppendOnlyError):
        ConsentRecord.objects.all().delete()
    assert ConsentRecord.objects.count() == 1


def test_withdrawal_is_a_new_record_and_current_consent_is_the_latest(api, outbox):
    verification_id = api.start(PHONE, consents={"sms": True, "email": True, "post3": True}).json()[
        "id"
    ]
    assert services.current_consent(PHONE) is None  # not proven yet
    api.check(verification_id, outbox.last_code(PHONE))
    given = services.current_consent(PHONE)
    assert given.granted == ["sms", "email", "post3"]

    withdrawal = services.withdraw_consent(PHONE, ["email"], recorded_by="alice")

    assert ConsentRecord.objects.count() == 2
    assert withdrawal.pk != given.pk and withdrawal.supersedes_id == given.pk
    assert withdrawal.action == "withdrawn" and withdrawal.recorded_by == "alice"
    assert services.current_consent(PHONE).pk == withdrawal.pk
    assert services.current_consent(PHONE).granted == ["sms", "post3"]
    given.refresh_from_db()
    assert given.granted == ["sms", "email", "post3"]  # the old record is untouched

    everything = services.withdraw_consent(PHONE)
    assert services.current_consent(PHONE).pk == everything.pk
    assert everything.granted == [] and everything.supersedes_id == withdrawal.pk


def test_an_unproven_record_never_becomes_current_consent(api, outbox):
    proven = api.start(PHONE, consents={"sms": True}).json()["id"]
    api.check(proven, outbox.last_code(PHONE))
    # Someone else types the same number and asks for nothing, but never proves it.
    api.start(PHONE, consents={})

    assert ConsentRecord.objects.count() == 2
    assert services.current_consent(PHONE).verification_id.hex == proven.replace("-", "")


def test_a_record_changed_behind_the_apps_back_breaks_its_seal(db):
    consent = record(sms=True)
    assert consent.seal_is_valid()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ConsentRecord._meta.db_table} SET email = %s WHERE id = %s",
            [True, consent.pk],
        )
    tampered = ConsentRecord.objects.get(pk=consent.pk)
    assert tampered.email is True
    assert not tampered.seal_is_valid()
