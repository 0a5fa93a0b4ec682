"""The admin shows verifications with their timeline and consent records read-only."""

from __future__ import annotations

from phone_verify.models import ConsentRecord, Verification

PHONE = "+33612345678"


def test_verification_pages_mask_the_phone_and_never_show_a_code(api, outbox, staff_client):
    api.start(consents={"sms": True})
    verification = Verification.objects.get()
    code = outbox.last_code(PHONE)

    listing = staff_client.get("/admin/phone_verify/verification/").content.decode()
    detail = staff_client.get(f"/admin/phone_verify/verification/{verification.pk}/change/")
    detail = detail.content.decode()

    assert "+33 6 ** ** *6 78" in listing and PHONE not in listing
    assert "printed" in detail  # the delivery timeline
    for page in (listing, detail):
        assert code not in page and verification.code_hash not in page


def test_consent_records_cannot_be_added_changed_or_deleted_even_by_a_superuser(api, staff_client):
    api.start(consents={"sms": True})
    record = ConsentRecord.objects.get()
    base = "/admin/phone_verify/consentrecord/"

    assert staff_client.get(base).status_code == 200
    assert staff_client.get(f"{base}{record.pk}/change/").status_code == 200  # view only
    assert staff_client.get(f"{base}add/").status_code == 403
    assert staff_client.post(f"{base}{record.pk}/change/", {"sms": ""}).status_code == 403
    assert staff_client.post(f"{base}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ConsentRecord.objects.get().sms is True
