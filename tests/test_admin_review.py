"""The admin answers: who consented to what, when, how it was proven, and what changed since."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from phone_verify import services
from phone_verify.consents import CONSENT_KEYS
from phone_verify.models import ConsentRecord, DeliveryEvent, Verification

PHONE = "+33612345678"
LIST = "/admin/phone_verify/consentrecord/"


def make_records(count: int, *, phone_of=lambda i: f"+336{10000000 + i:08d}", **flags) -> None:
    """``count`` verified verifications, each with its consent record (bulk, seals computed)."""
    now = timezone.now()
    verifications = Verification.objects.bulk_create(
        Verification(
            phone_number=phone_of(i),
            country="FRA",
            provider="telesign" if i % 2 else "console",
            provider_reference=f"ref-{i}",
            status="verified",
            verified_at=now,
            sends_done=1,
            expires_at=now,
        )
        for i in range(count)
    )
    records = []
    for i, verification in enumerate(verifications):
        record = ConsentRecord(
            phone_number=verification.phone_number,
            action="given",
            verification=verification,
            method="form",
            notice_version="1",
            language="en",
            created_at=now - dt.timedelta(seconds=count - i),
            **{"sms": True, "email2": bool(i % 2), **flags},
        )
        record.seal = record.compute_seal()
        records.append(record)
    ConsentRecord.objects.bulk_create(records)


@pytest.fixture
def ada(api, outbox):
    """A phone verified through the API with consents for contacts 1 and 2, then a withdrawal."""
    answer = api.start(PHONE, consents={"sms": True, "email": True, "sms2": True})
    api.check(answer.json()["id"], outbox.last_code(PHONE))
    services.withdraw_consent(PHONE, ["email"], recorded_by="alice")
    return Verification.objects.get(pk=answer.json()["id"])


# --- the list -------------------------------------------------------------------------------


def test_the_list_masks_summarises_and_tells_proof_and_currency(ada, staff_client):
    html = staff_client.get(LIST).content.decode()

    assert "+33 6 ** ** *6 78" in html and PHONE not in html
    assert "1: SMS, Email · 2: SMS" in html  # the first record
    assert "1: SMS · 2: SMS" in html  # the withdrawal of email
    assert "verified by console" in html and "recorded by alice" in html
    assert html.count('alt="True"') >= 1 and html.count('alt="False"') >= 1  # current or not
    assert "data-export" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("channel=email", 1),  # only the first grants email
        ("channel=sms", 2),
        ("contact=2", 2),
        ("contact=5", 0),
        ("verified=yes", 1),
        ("verified=no", 1),  # the withdrawal carries no verification
        ("current=yes", 1),
        ("current=no", 1),
        ("verification__provider=console", 1),
        ("action__exact=withdrawn", 1),
    ],
)
def test_filters(ada, staff_client, query, expected):
    html = staff_client.get(f"{LIST}?{query}").content.decode()
    assert html.count('class="field-masked_phone"') == expected


@pytest.mark.parametrize(
    ("term", "expected"),
    [("06 12 34 56 78", 2), ("+33 6 12 34 56 78", 2), ("0033612345678", 2), ("0612345679", 0)],
)
def test_search_by_phone_in_any_format(ada, staff_client, term, expected):
    html = staff_client.get(LIST, {"q": term}).content.decode()
    assert html.count('class="field-masked_phone"') == expected


def test_a_search_that_is_not_a_number_finds_nothing(ada, staff_client):
    html = staff_client.get(LIST, {"q": "robert'); drop table"}).content.decode()
    assert html.count('class="field-masked_phone"') == 0


def test_the_detail_shows_the_proof_and_the_history(ada, staff_client):
    first = ConsentRecord.objects.earliest("created_at")
    html = staff_client.get(f"{LIST}{first.pk}/change/").content.decode()

    assert str(ada.pk) in html and ada.provider_reference in html
    assert "127.0.0.1" in html and first.notice_version in html
    history = re.search(r"History of this phone number(.*?)</table>", html, re.S).group(1)
    assert history.index("given") < history.index("withdrawn")
    assert "Save" not in html and "Delete" not in html  # read only


def test_what_records_hold_is_shown_as_text_never_as_markup(db, staff_client, settings):
    markup = "<script>alert('pwned')</script>"
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "NOTICE_TEXTS": {"en": f"Ticked {markup}"}}
    record = services.record_consent(PHONE, {"sms": True}, recorded_by=markup)

    html = staff_client.get(f"{LIST}{record.pk}/change/").content.decode()
    listing = staff_client.get(LIST).content.decode()

    assert "<script>" not in html and "<script>" not in listing
    assert "Ticked &lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html  # the notice
    assert "recorded by &lt;script&gt;" in listing  # the proof column


def test_add_change_delete_are_forbidden_even_to_a_superuser(ada, staff_client):
    record = ConsentRecord.objects.earliest("created_at")
    assert staff_client.get(f"{LIST}add/").status_code == 403
    assert staff_client.post(f"{LIST}{record.pk}/change/", {"sms": ""}).status_code == 403
    assert staff_client.post(f"{LIST}{record.pk}/delete/", {"post": "yes"}).status_code == 403
    staff_client.post(LIST, {"action": "delete_selected", "_selected_action": [record.pk]})
    assert ConsentRecord.objects.count() == 2  # no such action here


def test_the_withdrawal_action_appends_a_superseding_record(ada, staff_client):
    record = ConsentRecord.objects.earliest("created_at")

    staff_client.post(LIST, {"action": "record_withdrawal", "_selected_action": [record.pk]})

    latest = ConsentRecord.objects.latest("created_at")
    assert (latest.action, latest.method, latest.recorded_by) == ("withdrawn", "admin", "root")
    assert latest.granted == [] and latest.supersedes is not None
    assert ConsentRecord.objects.count() == 3
    assert services.current_consent(PHONE).pk == latest.pk


# --- export ---------------------------------------------------------------------------------


def rows_of(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_the_export_action_and_the_filtered_export(ada, staff_client):
    record = ConsentRecord.objects.earliest("created_at")
    chosen = staff_client.post(LIST, {"action": "export_csv", "_selected_action": [record.pk]})
    filtered = staff_client.get(f"{LIST}export/?channel=sms&q=0612345678")

    header, *rows = rows_of(chosen)
    assert header[:4] == ["id", "phone_number", "action", "current"]
    assert [row[1] for row in rows] == [PHONE] and rows[0][header.index("email")] == "1"
    assert len(rows_of(filtered)) == 1 + 2
    assert filtered["Content-Disposition"].startswith('attachment; filename="consents-')


def test_an_export_of_ten_thousand_records_streams(db, staff_client):
    make_records(10_000)

    with CaptureQueriesContext(connection) as before:
        response = staff_client.get(f"{LIST}export/")
    assert isinstance(response, StreamingHttpResponse)
    # Nothing of the records was read yet: rows are fetched as the response is sent.
    assert not any("ORDER BY" in q["sql"] and "LIMIT" not in q["sql"] for q in before)
    chunks = 0
    lines = 0
    with CaptureQueriesContext(connection) as during:
        for chunk in response.streaming_content:
            chunks += 1
            lines += chunk.count(b"\n")
    assert lines == 10_001 and chunks == 10_001  # one line at a time, never the whole file
    assert len(during) <= 3


def test_the_export_command(ada, tmp_path):
    out = tmp_path / "consents.csv"
    call_command(
        "phone_verify_export_csv", "--phone", "06 12 34 56 78", "--current", "--output", str(out)
    )

    header, *rows = list(csv.reader(out.open()))
    assert len(rows) == 1 and rows[0][header.index("action")] == "withdrawn"
    assert rows[0][header.index("current")] == "1"
    assert set(CONSENT_KEYS) <= set(header)


def test_the_export_command_refuses_bad_options(db):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--phone"):
        call_command("phone_verify_export_csv", "--phone", "not a number")
    with pytest.raises(CommandError, match="--since"):
        call_command("phone_verify_export_csv", "--since", "yesterday")


# --- verifications and the funnel -----------------------------------------------------------


def test_verification_filters_and_timeline(ada, staff_client):
    base = "/admin/phone_verify/verification/"
    for query in ("status__exact=verified", "provider__exact=console", "country__exact=FRA"):
        assert staff_client.get(f"{base}?{query}").content.decode().count("field-masked_phone") == 1
    assert (
        staff_client.get(f"{base}?status__exact=failed").content.decode().count("action-select")
        == 0
    )
    detail = staff_client.get(f"{base}{ada.pk}/change/").content.decode()
    assert "printed" in detail and "code_hash" not in detail
    assert ada.code_hash == ""  # single use: nothing left once verified


def test_the_funnel_page(db, staff_client):
    make_records(6)
    telesign = Verification.objects.filter(provider="telesign")
    Verification.objects.filter(pk=telesign.first().pk).update(status="delivered")
    for verification in telesign:
        DeliveryEvent.objects.create(
            verification=verification,
            kind="callback",
            provider="telesign",
            details={"price": "0.0420", "currency": "USD"},
        )

    html = staff_client.get("/admin/phone_verify/verification/funnel/").content.decode()

    assert "<svg" in html and 'data-funnel="telesign"' in html and 'data-funnel="console"' in html
    telesign_section = html.split('data-funnel="telesign"')[1].split("</section>")[0]
    assert "<td>3</td><td>3</td><td>3</td><td>2</td>" in telesign_section  # started..verified
    assert "67 %" in telesign_section  # verified rate: 2 of 3
    assert "0.1260 USD" in telesign_section


@pytest.mark.parametrize(
    ("url", "permission"),
    [
        ("/admin/phone_verify/verification/funnel/", "view_verification"),
        (f"{LIST}export/", "view_consentrecord"),
    ],
)
def test_the_pages_beside_the_lists_need_the_view_permission(
    ada, client, django_user_model, url, permission
):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("clerk", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename=permission))
    assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302  # to the admin's login


# --- query counts do not grow with the rows -------------------------------------------------


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url",
    [
        LIST,
        f"{LIST}?channel=sms&current=yes",
        "/admin/phone_verify/verification/",
        "/admin/phone_verify/verification/funnel/",
    ],
)
def test_list_queries_are_the_same_for_5_and_500_rows(db, staff_client, url):
    make_records(5)
    few = count_queries(staff_client, url)
    make_records(495, phone_of=lambda i: f"+336{20000000 + i:08d}")
    assert Verification.objects.count() == 500
    assert count_queries(staff_client, url) == few


def test_detail_queries_do_not_grow_with_the_phones_history(db, staff_client):
    make_records(5, phone_of=lambda i: PHONE)
    record = ConsentRecord.objects.latest("created_at")
    few = count_queries(staff_client, f"{LIST}{record.pk}/change/")
    make_records(45, phone_of=lambda i: PHONE)
    assert count_queries(staff_client, f"{LIST}{record.pk}/change/") == few
