"""Proof of consent: Ed25519 signatures, the chain, the audit, receipts, notice texts, key and
SECRET_KEY rotation, spreadsheet-safe exports."""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from phone_verify import services
from phone_verify.models import ConsentChainHead, ConsentRecord, NoticeText
from phone_verify.signing import load_key

ROOT = Path(__file__).resolve().parent.parent
PHONE = "+33612345678"
OTHER = "+33698765432"
NEW_KEY = base64.b64encode(bytes(range(32))).decode()


# --- helpers ------------------------------------------------------------------------------


def audit() -> tuple[int, str]:
    """``phone_verify_audit``'s exit status and output."""
    out = io.StringIO()
    try:
        call_command("phone_verify_audit", stdout=out)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()
    return 0, out.getvalue()


def line_of(output: str, record: ConsentRecord) -> str:
    """The audit's line about ``record`` (empty when it names it not)."""
    where = f" (sequence {record.sequence})" if record.sequence is not None else ""
    prefix = f"record {record.pk}{where}: "
    return next((line for line in output.splitlines() if line.startswith(prefix)), "")


def receipt_of(phone: str) -> str:
    out = io.StringIO()
    call_command("phone_verify_receipt", phone, stdout=out)
    return out.getvalue()


def documented_receipt_verifier(tmp_path: Path) -> Path:
    """The documented offline verification recipe (docs/consent.md), as a file."""
    page = (ROOT / "docs" / "consent.md").read_text()
    section = page.split("## Verifying a receipt offline", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    script = tmp_path / "verify_receipt.py"
    script.write_text(code)
    return script


def run_verifier(script: Path, receipt: str) -> subprocess.CompletedProcess:
    # -I: isolated (no site-packages of ours beyond what the interpreter has, no cwd on path).
    return subprocess.run(
        [sys.executable, "-I", str(script)], input=receipt, capture_output=True, text=True
    )


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def some_records() -> list[ConsentRecord]:
    """Six records over two phones, through the service, the last a withdrawal."""
    records = [
        services.record_consent(PHONE, {"sms": True}, ip="203.0.113.5", user_agent="UA 1"),
        services.record_consent(OTHER, {"email": True}, ip="2001:db8::1"),
        services.record_consent(PHONE, {"sms": True, "post3": True}),
        services.record_consent(OTHER, {"phone": True}),
        services.record_consent(PHONE, {"email2": True}),
    ]
    records.append(services.withdraw_consent(OTHER, ["phone"], recorded_by="alice"))
    return records


# --- 1. receipts verify offline -----------------------------------------------------------


def test_the_documented_verifier_imports_only_json_base64_and_cryptography(tmp_path):
    tree = ast.parse(documented_receipt_verifier(tmp_path).read_text())
    modules = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert modules == {"json", "base64", "cryptography"}


def test_a_receipt_verifies_offline_and_one_changed_byte_fails(api, outbox, tmp_path):
    started = api.start(PHONE, consents={"sms": True, "email": True, "sms2": True})
    assert api.check(started.json()["id"], outbox.last_code(PHONE)).status_code == 200
    services.withdraw_consent(PHONE, ["email"], recorded_by="alice")
    services.record_consent(OTHER, {"sms": True})  # another number: not in the receipt

    receipt = receipt_of(PHONE)
    parsed = json.loads(receipt)
    assert parsed["format"] == "phone_verify.consent-receipt/1"
    assert [entry["record"]["action"] for entry in parsed["records"]] == ["given", "withdrawn"]
    record = parsed["records"][0]["record"]
    assert record["phone_number"] == PHONE and len(record["consents"]) == 20
    assert record["consents"]["sms2"] is True and record["consents"]["post"] is False
    assert record["verification"]["provider"] == "console"
    assert record["notice"]["sha256"] == NoticeText.objects.get().sha256
    assert record["recorded_at"].endswith("+00:00")
    assert parsed["records"][1]["record"]["supersedes"] == parsed["records"][0]["digest"]

    script = documented_receipt_verifier(tmp_path)
    verified = run_verifier(script, receipt)
    assert verified.returncode == 0, verified.stderr
    assert "OK: 2 record(s)" in verified.stdout

    # One byte: the last digit of the phone number inside the first record.
    at = receipt.index(f'"phone_number": "{PHONE}"') + len(f'"phone_number": "{PHONE}') - 1
    tampered = receipt[:at] + "9" + receipt[at + 1 :]
    assert len(tampered) == len(receipt) and tampered != receipt
    failed = run_verifier(script, tampered)
    assert failed.returncode == 1
    assert "digest does not match" in failed.stderr

    # A forged digest to go with it: the signature still fails.
    forged = json.loads(tampered)
    entry = forged["records"][0]
    canonical = json.dumps(
        entry["record"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    entry["digest"] = hashlib.sha256(canonical).hexdigest()
    failed = run_verifier(script, json.dumps(forged))
    assert failed.returncode == 1 and "signature invalid" in failed.stderr


def test_my_consents_page_hands_out_the_same_receipt(api, outbox, web, django_user_model):
    started = api.start(PHONE, consents={"sms": True})
    api.check(started.json()["id"], outbox.last_code(PHONE))
    user = django_user_model.objects.create_user("ada", password="pw")
    services.link_user(started.json()["id"], user)
    web.force_login(user)

    page = web.get("/consents/")
    assert b"data-receipt" in page.content
    download = web.get("/consents/receipt.json")
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="consent-receipt.json"'
    assert download.content.decode() == receipt_of(PHONE)


def test_the_keys_command_prints_the_public_keys_an_auditor_needs(settings):
    seed = settings.PHONE_VERIFY["CONSENT_SIGNING_KEYS"][0]
    key = load_key(seed)
    out = io.StringIO()
    call_command("phone_verify_keys", stdout=out)
    assert out.getvalue().split() == [key.key_id, key.public_base64, "(signs", "new", "records)"]
    assert seed not in out.getvalue()


# --- 2. the audit finds tampering ---------------------------------------------------------


def test_an_untouched_database_passes_the_audit(db):
    some_records()
    status, output = audit()
    assert status == 0, output
    assert "intact: 6 records verified (6 signed and chained, 0 sealed only), 0 broken" in output


def test_one_flag_flipped_in_the_database_is_named(db):
    records = some_records()
    target = records[2]
    sql("UPDATE phone_verify_consentrecord SET sms = %s WHERE id = %s", [False, target.pk])
    status, output = audit()
    assert status == 1
    assert "row differs from what was signed: consents" in line_of(output, target)
    assert "BROKEN" in output and "1 broken" in output


def test_a_deleted_record_is_named_by_the_gap_it_leaves(db):
    records = some_records()
    gone, after = records[2], records[3]
    sql("DELETE FROM phone_verify_consentrecord WHERE id = %s", [gone.pk])
    status, output = audit()
    assert status == 1
    line = line_of(output, after)
    assert "1 record(s) missing before it (sequence 3-3)" in line
    assert "does not link to the record before it" in line
    assert "1 broken" in output


def test_deleting_every_record_of_one_phone_is_detected(db):
    records = some_records()
    sql("DELETE FROM phone_verify_consentrecord WHERE phone_number = %s", [OTHER])
    status, output = audit()
    assert status == 1
    # OTHER held sequences 2, 4 and 6: gaps before 3 and 5, and the newest one is gone.
    assert "1 record(s) missing before it (sequence 2-2)" in line_of(output, records[2])
    assert "1 record(s) missing before it (sequence 4-4)" in line_of(output, records[4])
    assert "chain: the newest 1 record(s) are missing (the chain head is #6)" in output


def test_two_records_times_swapped_are_both_named(db):
    records = some_records()
    first, second = records[0], records[2]
    sql(
        "UPDATE phone_verify_consentrecord SET created_at = %s WHERE id = %s",
        [second.created_at, first.pk],
    )
    sql(
        "UPDATE phone_verify_consentrecord SET created_at = %s WHERE id = %s",
        [first.created_at, second.pk],
    )
    status, output = audit()
    assert status == 1
    for record in (first, second):
        assert "row differs from what was signed: recorded_at" in line_of(output, record)
    assert "2 broken" in output


def test_records_reordered_in_the_chain_are_detected(db):
    records = some_records()
    a, b = records[1], records[2]
    sql("UPDATE phone_verify_consentrecord SET sequence = 1000 WHERE id = %s", [a.pk])
    sql("UPDATE phone_verify_consentrecord SET sequence = %s WHERE id = %s", [a.sequence, b.pk])
    sql("UPDATE phone_verify_consentrecord SET sequence = %s WHERE id = %s", [b.sequence, a.pk])
    status, output = audit()
    assert status == 1
    b.sequence = a.sequence  # where the database now has it
    line = line_of(output, b)
    assert "row differs from what was signed: sequence" in line
    assert "does not link to the record before it" in line


def test_a_forged_signature_and_an_edited_notice_text_are_named(db):
    records = some_records()
    target = records[0]
    sql(
        "UPDATE phone_verify_consentrecord SET signature = %s WHERE id = %s",
        [records[1].signature, target.pk],
    )
    sql("UPDATE phone_verify_noticetext SET text = %s", ["We may call you whenever we like."])
    status, output = audit()
    assert status == 1
    assert "signature invalid" in line_of(output, target)
    assert f"notice text {target.notice_id}: text does not match its SHA-256" in output


def test_a_record_older_than_signatures_is_checked_by_its_seal(db):
    some_records()
    sql(
        "INSERT INTO phone_verify_consentrecord (phone_number, action, created_at, user_agent, "
        "method, notice_version, language, controller, purpose, recorded_by, seal, "
        "previous_digest, digest, key_id, signature, signed_record, "
        + ", ".join(f"{k}" for k in ("sms", "email", "phone", "post"))
        + ", "
        + ", ".join(f"{c}{n}" for n in range(2, 6) for c in ("sms", "email", "phone", "post"))
        + ") VALUES (%s, 'given', %s, '', 'form', '1', 'en', '', '', '', %s, '', '', '', '', '', "
        + ", ".join(["%s"] * 20)
        + ")",
        [PHONE, ConsentRecord.objects.first().created_at, "0" * 64] + [False] * 20,
    )
    legacy = ConsentRecord.objects.get(sequence__isnull=True)
    status, output = audit()
    assert status == 1
    assert line_of(output, legacy) == f"record {legacy.pk}: seal does not match the record"
    assert "6 signed and chained, 1 sealed only" in output


def test_the_admin_shows_the_audit_verdict_per_record(db, staff_client):
    records = some_records()
    sql("UPDATE phone_verify_consentrecord SET email2 = %s WHERE id = %s", [False, records[4].pk])
    intact = staff_client.get(f"/admin/phone_verify/consentrecord/{records[0].pk}/change/")
    assert b"signature, chain link and seal verified" in intact.content
    assert records[0].notice.text.encode() in intact.content
    broken = staff_client.get(f"/admin/phone_verify/consentrecord/{records[4].pk}/change/")
    assert b"row differs from what was signed: consents" in broken.content
    listing = staff_client.get("/admin/phone_verify/consentrecord/").content.decode()
    intact_cells = re.findall(r'field-intact"><img [^>]*alt="(True|False)"', listing)
    assert sorted(intact_cells) == ["False"] + ["True"] * 5


# --- 3. rotation --------------------------------------------------------------------------


def test_a_new_signing_key_in_front_keeps_old_records_valid(db, settings):
    old_seed = settings.PHONE_VERIFY["CONSENT_SIGNING_KEYS"][0]
    old = services.record_consent(PHONE, {"sms": True})
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "CONSENT_SIGNING_KEYS": [NEW_KEY, old_seed]}
    new = services.withdraw_consent(PHONE, None)
    assert old.key_id == load_key(old_seed).key_id
    assert new.key_id == load_key(NEW_KEY).key_id != old.key_id
    status, output = audit()
    assert status == 0, output
    assert set(json.loads(receipt_of(PHONE))["public_keys"]) == {old.key_id, new.key_id}

    # Dropping the old key is what breaks them: the audit would say so.
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "CONSENT_SIGNING_KEYS": [NEW_KEY]}
    status, output = audit()
    assert status == 1
    assert (
        line_of(output, old)
        == f"record {old.pk} (sequence 1): signature invalid (key {old.key_id})"
    )


def test_secret_key_moved_to_fallbacks_keeps_codes_in_flight_and_seals(api, outbox, settings):
    started = api.start(PHONE, consents={"sms": True}).json()
    code = outbox.last_code(PHONE)
    record = ConsentRecord.objects.get()
    old_secret = settings.SECRET_KEY

    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-0123456789abcdef"
    settings.SECRET_KEY_FALLBACKS = [old_secret]
    assert record.seal_is_valid()
    assert audit()[0] == 0
    checked = api.check(started["id"], code)
    assert checked.status_code == 200, checked.json()
    assert checked.json()["status"] == "verified"
    # New seals are made with the new key.
    withdrawal = services.withdraw_consent(PHONE)
    assert withdrawal.seal == withdrawal.compute_seal(settings.SECRET_KEY)
    assert withdrawal.seal != withdrawal.compute_seal(old_secret)


def test_without_the_fallback_a_code_from_before_the_rotation_fails(api, outbox, settings):
    started = api.start(PHONE).json()
    code = outbox.last_code(PHONE)
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-0123456789abcdef"
    settings.SECRET_KEY_FALLBACKS = []
    assert api.check(started["id"], code).json()["code"] == "invalid_code"
    assert not ConsentRecord.objects.get().seal_is_valid()


def test_no_signing_key_with_debug_off_is_refused_by_the_system_check(settings):
    from phone_verify.checks import check_settings

    settings.DEBUG = False
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "CONSENT_SIGNING_KEYS": []}
    assert "phone_verify.E017" in {error.id for error in check_settings()}
    settings.DEBUG = True
    assert "phone_verify.E017" not in {error.id for error in check_settings()}
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "CONSENT_SIGNING_KEYS": ["c2hvcnQ="]}
    errors = [error for error in check_settings() if error.id == "phone_verify.E017"]
    assert errors and "CONSENT_SIGNING_KEYS'][0]" in errors[0].msg and "5 bytes" in errors[0].msg


def test_the_example_project_signs_with_the_key_from_its_environment(tmp_path):
    seed = base64.b64encode(bytes(range(100, 132))).decode()
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'example_project.settings'; "
        "django.setup(); from phone_verify.signing import current_key; "
        "print(current_key().key_id)"
    )
    env_keys = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}

    def key_id(**env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", code],
            env={**env_keys, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    given = key_id(PHONE_VERIFY_CONSENT_KEY=seed, DEBUG="0")
    assert given.stdout.strip() == load_key(seed).key_id, given.stderr
    demo = key_id(DEBUG="1")
    assert demo.returncode == 0 and len(demo.stdout.strip()) == 16
    none = key_id(DEBUG="0")
    assert none.returncode != 0 and "CONSENT_SIGNING_KEYS" in none.stderr


# --- 4. concurrent writers ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_16_concurrent_writers_leave_one_whole_chain(numbers):
    writers, total = 16, 2000
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers)

    def write(offset: int) -> None:
        try:
            barrier.wait()
            for i in range(offset, total, writers):
                services.record_consent(f"+336{40_000_000 + i % 97:08d}", {"sms": bool(i % 3)})
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    assert not errors, errors[0]
    sequences = list(ConsentRecord.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, total + 1))
    assert ConsentChainHead.objects.get().sequence == total
    status, output = audit()
    assert status == 0, output
    assert f"intact: {total} records verified ({total} signed and chained" in output
    numbers(
        f"{writers} writers appended {total} records in {seconds:.1f} s "
        f"({total / seconds:.0f}/s): chain whole, audit exit 0"
    )


def test_the_consent_benchmark_smoke_run_reports_appends_and_audit_memory(numbers):
    answer = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "consents.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    table = answer.stdout
    assert re.search(r"\| 1 \| 64 \| [\d.]+ \| \d+ \| yes \|", table), table
    assert re.search(r"\| 16 \| 64 \| [\d.]+ \| \d+ \| yes \|", table), table
    assert re.search(r"\| 3,000 \| yes \| [\d.]+ \| [\d.]+ MiB \| [\d.]+ MiB \|", table), table
    numbers("bench/consents.py --quick: " + " ".join(table.split()))


# --- 5. exports are spreadsheet-safe ------------------------------------------------------

FORMULA = '=HYPERLINK("http://x")'


def exported_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_a_formula_user_agent_comes_out_of_both_exports_as_text(api, staff_client, tmp_path):
    for phone, user_agent in ((PHONE, FORMULA), (OTHER, "-1+1")):
        body = {"phone_number": phone, "consents": {"sms": True}}
        assert api.post("verifications/", body, HTTP_USER_AGENT=user_agent).status_code == 201
    admin_csv = b"".join(
        staff_client.get("/admin/phone_verify/consentrecord/export/").streaming_content
    ).decode()
    output = tmp_path / "consents.csv"
    call_command("phone_verify_export_csv", output=str(output))
    for text in (admin_csv, output.read_text()):
        rows = {row["phone_number"]: row for row in exported_rows(text)}
        assert rows[PHONE]["user_agent"] == "'" + FORMULA
        assert rows[OTHER]["user_agent"] == "'-1+1"
        assert set(rows) == {PHONE, OTHER}  # the number, validated E.164, stays as it is
        assert rows[PHONE]["signature"] == ConsentRecord.objects.for_phone(PHONE).get().signature


# --- 6. the audit streams: memory does not grow with the number of records -----------------


def _fill(count: int) -> None:
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            phone_number=f"+336{50_000_000 + i:08d}",
            action="given",
            method="api",
            notice_version="1",
            language="en",
            sms=True,
        )
        for i in range(count)
    )


def _audit_peak() -> tuple[int, int]:
    tracemalloc.start()
    try:
        status, _ = audit()
        return status, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_audit_memory_does_not_grow_with_the_number_of_records(db, numbers, monkeypatch):
    # Smaller chunks than the real 2,000, so that a few thousand records make many chunks: at
    # most two chunks are alive at once (the one read, the one being fetched).
    monkeypatch.setattr("phone_verify.audit.CHUNK", 250)
    _fill(1000)
    status, small = _audit_peak()
    assert status == 0
    _fill(3000)
    status, large = _audit_peak()
    assert status == 0
    assert ConsentRecord.objects.count() == 4000
    numbers(
        f"audit peak Python memory (chunks of 250): {small / 2**20:.2f} MiB for 1,000 records, "
        f"{large / 2**20:.2f} MiB for 4,000 (100,000 records: bench/consents.py)"
    )
    # Four times the records; a list of them would need four times the memory.
    assert large < small * 1.3


def test_new_records_point_to_the_notice_text_the_signup_page_shows(web, settings):
    settings.PHONE_VERIFY = {
        **settings.PHONE_VERIFY,
        "NOTICE_TEXTS": {"en": "We text you offers; reply STOP or withdraw on your account."},
    }
    page = web.get("/signup/")
    assert "We text you offers; reply STOP or withdraw on your account." in page.content.decode()
    record = services.record_consent(PHONE, {"sms": True})
    assert record.notice.text == "We text you offers; reply STOP or withdraw on your account."
    assert json.loads(record.signed_record)["notice"]["sha256"] == record.notice.sha256
    assert record.notice.text_is_intact()
    again = services.record_consent(OTHER, {"sms": True})
    assert again.notice_id == record.notice_id  # one row per text, not one per record
