"""Fields, widgets, template tags and the signup-form mixin, through the example project's
signup and "my consents" pages (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import responses
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client
from django.utils import translation
from phonenumber_field.formfields import SplitPhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber
from phonenumber_field.widgets import PhoneNumberPrefixWidget

from phone_verify.forms import ConsentField, OneTimeCodeWidget, PhoneNumberField
from phone_verify.models import ConsentRecord, Verification

PHONE = "+33612345678"
ACCOUNT = {
    "username": "ada",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "password1": "xK9!analytical-engine",
    "password2": "xK9!analytical-engine",
}
PHONE_FIELDS = {"phone_number_country": "FR", "phone_number_number": "06 12 34 56 78"}


# --- fields and widgets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "number", "e164"),
    [
        ("FR", "06 12 34 56 78", PHONE),
        ("BE", "+33 6 12 34 56 78", PHONE),  # an international number says its country
        ("", "+33 6 12 34 56 78", PHONE),
        ("BE", "0470 12 34 56", "+32470123456"),
    ],
)
def test_the_phone_field_cleans_to_a_phone_number(country, number, e164):
    cleaned = PhoneNumberField().clean([country, number])
    assert isinstance(cleaned, PhoneNumber)
    assert cleaned.as_e164 == e164


def test_the_phone_field_is_django_phonenumber_fields():
    field = PhoneNumberField()
    assert isinstance(field, SplitPhoneNumberField)
    assert isinstance(field.widget, PhoneNumberPrefixWidget)


def test_a_national_number_needs_its_region():
    from django import forms

    with pytest.raises(forms.ValidationError) as error:
        PhoneNumberField().clean(["", "06 12 34 56 78"])
    assert error.value.code == "invalid_phone_number"


@pytest.mark.parametrize("initial", [PhoneNumber.from_string(PHONE), PHONE])
def test_the_phone_field_shows_a_phone_number(initial):
    html = PhoneNumberField().widget.render("phone", initial)
    assert '<option value="FR" selected>France (+33)</option>' in html
    assert 'value="06 12 34 56 78"' in html


@pytest.mark.parametrize(
    ("number", "english", "french"),
    [
        ("01 23 45 67 89", "This number cannot receive SMS.", "Ce numéro ne peut pas recevoir"),
        ("12", "This is not a valid phone number.", "Ce numéro de téléphone n’est pas valide"),
    ],
)
def test_phone_errors_speak_the_users_language(number, english, french):
    from django import forms

    for language, expected in (("en", english), ("fr", french)):
        with translation.override(language), pytest.raises(forms.ValidationError) as error:
            PhoneNumberField().clean(["FR", number])
        assert expected in error.value.messages[0]


def test_the_country_list_is_named_in_the_users_language():
    field = PhoneNumberField(region="FR")
    with translation.override("fr"):
        html = field.widget.render("phone", field.initial)
    assert '<option value="DE">Allemagne (+49)</option>' in html
    assert '<option value="FR" selected>France (+33)</option>' in html


def test_the_consent_field_reads_the_grid():
    widget = ConsentField().widget
    value = widget.value_from_datadict({"c_sms": "1", "c_post5": "1"}, {}, "c")
    assert ConsentField().clean(value) == {
        **dict.fromkeys(value, False),
        "sms": True,
        "post5": True,
    }
    assert widget.render("c", value).count('type="checkbox"') == 20


def test_the_code_input_lets_phones_offer_the_code():
    html = OneTimeCodeWidget().render("code", "")
    assert 'autocomplete="one-time-code"' in html and 'inputmode="numeric"' in html


def test_template_tags():
    rendered = Template(
        "{% load phone_verify %}{{ phone|mask_phone }}|{% consent_grid form.consents %}"
    )
    from example_project.forms import SignupForm

    class Request:
        session: dict = {}
        META: dict = {}

    html = rendered.render(Context({"phone": PHONE, "form": SignupForm(request=Request())}))
    assert html.startswith("+33 6 ** ** *6 78|")
    assert html.count('type="checkbox"') == 20 and "data-pv-consents" in html


def test_the_signup_form_takes_a_phone_number_object_as_initial():
    from example_project.forms import SignupForm

    class Request:
        session: dict = {}
        META: dict = {}

    form = SignupForm(request=Request(), initial={"phone_number": PhoneNumber.from_string(PHONE)})
    html = str(form["phone_number"])
    assert '<option value="FR" selected>France (+33)</option>' in html
    assert 'name="phone_number_number" value="06 12 34 56 78"' in html


# --- the signup page ------------------------------------------------------------------------


def code_from(page: str) -> str:
    return re.search(r'name="verification_id" value="([^"]+)"', page).group(1)


def test_signup_without_javascript(web, outbox):
    sent = web.post(
        "/signup/", {**ACCOUNT, **PHONE_FIELDS, "consents_sms": "1", "phone_verify_action": "send"}
    )
    page = sent.content.decode()
    assert sent.status_code == 200 and "We sent you a code." in page
    verification_id = code_from(page)

    done = web.post(
        "/signup/",
        {
            **ACCOUNT,
            **PHONE_FIELDS,
            "consents_sms": "1",
            "verification_id": verification_id,
            "code": outbox.last_code(PHONE),
        },
    )

    assert done.status_code == 302 and done["Location"] == "/consents/"
    user = User.objects.get(username="ada")
    verification = Verification.objects.get(pk=verification_id)
    assert verification.user == user and verification.status == "verified"
    assert ConsentRecord.objects.get(verification=verification).granted == ["sms"]


@pytest.mark.parametrize("plain", [PhoneNumber.from_string, str], ids=["PhoneNumber", "str"])
def test_a_number_handed_back_plain_by_the_site_is_still_verified(
    db, outbox, plain, django_capture_on_commit_callbacks
):
    """A site's ``clean_phone_number`` (or a field of its own) may hand back a plain
    ``PhoneNumber`` or text instead of our checked number: the form still checks it by our
    rules and still requires the code; it never lets the signup through unverified."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    from example_project.forms import SignupForm

    class NormalizingSignupForm(SignupForm):
        def clean_phone_number(self):
            return plain(self.cleaned_data["phone_number"].as_e164)

    def form(**fields: str) -> NormalizingSignupForm:
        request = RequestFactory().post("/signup/")
        request.session = session
        return NormalizingSignupForm({**ACCOUNT, **PHONE_FIELDS, **fields}, request=request)

    session = SessionStore()
    unverified = form()
    assert not unverified.is_valid()
    assert unverified.errors["code"] and not User.objects.exists()

    asked = form(consents_sms="1", phone_verify_action="send")
    with django_capture_on_commit_callbacks(execute=True):  # the send, as after a request
        assert not asked.is_valid() and asked.code_sent
    verification = Verification.objects.get()
    assert verification.phone_number == PHONE

    done = form(
        consents_sms="1", verification_id=str(verification.pk), code=outbox.last_code(PHONE)
    )
    assert done.is_valid(), done.errors
    user = done.save()
    verification.refresh_from_db()
    assert verification.user == user and verification.status == "verified"


def test_a_site_value_that_is_no_mobile_number_is_a_phone_error(db):
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    from example_project.forms import SignupForm

    class LandlineSignupForm(SignupForm):
        def clean_phone_number(self):
            return "+33142685300"  # a Paris landline: no SMS reaches it

    request = RequestFactory().post("/signup/")
    request.session = SessionStore()
    form = LandlineSignupForm(
        {**ACCOUNT, **PHONE_FIELDS, "consents_sms": "1", "phone_verify_action": "send"},
        request=request,
    )
    assert not form.is_valid()
    assert form.errors["phone_number"] and not Verification.objects.exists()


def verified_through_the_api(client: Client, outbox, consents: dict) -> str:
    """What the page's script does: start a verification, then check the code."""
    answer = client.post(
        "/api/phone-verify/verifications/",
        {"phone_number": PHONE, "consents": consents},
        content_type="application/json",
    )
    verification_id = answer.json()["id"]
    client.post(
        f"/api/phone-verify/verifications/{verification_id}/check/",
        {"code": outbox.last_code(PHONE)},
        content_type="application/json",
    )
    return verification_id


def test_with_javascript_the_api_verifies_and_the_form_takes_the_id(web, outbox):
    web.get("/signup/")  # the page gives the browser its session
    verification_id = verified_through_the_api(web, outbox, {"sms": True, "email2": True})

    done = web.post(
        "/signup/",
        {
            **ACCOUNT,
            **PHONE_FIELDS,
            "consents_sms": "1",
            "consents_email2": "1",
            "verification_id": verification_id,
        },
    )

    assert done.status_code == 302
    assert Verification.objects.get(pk=verification_id).user.username == "ada"
    assert ConsentRecord.objects.count() == 1  # the boxes did not change: the same record


def test_boxes_changed_after_the_code_make_a_new_superseding_record(web, outbox):
    web.get("/signup/")
    verification_id = verified_through_the_api(web, outbox, {"sms": True})

    web.post(
        "/signup/",
        {**ACCOUNT, **PHONE_FIELDS, "consents_post": "1", "verification_id": verification_id},
    )

    first, second = ConsentRecord.objects.order_by("created_at", "id")
    assert (first.granted, second.granted) == (["sms"], ["post"])
    assert second.supersedes == first and second.verification_id == first.verification_id


def verified_elsewhere(web, outbox) -> str:
    stranger = type(web)()
    stranger.capture = web.capture
    stranger.get("/signup/")
    return verified_through_the_api(stranger, outbox, {"sms": True})


def test_a_verification_from_another_session_is_refused(web, outbox):
    verification_id = verified_elsewhere(web, outbox)
    web.get("/signup/")

    page = web.post(
        "/signup/",
        {**ACCOUNT, **PHONE_FIELDS, "consents_sms": "1", "verification_id": verification_id},
    )

    assert page.status_code == 200 and not User.objects.exists()
    assert "ask for a code first" in page.content.decode()


def test_a_changed_number_needs_a_new_verification(web, outbox):
    web.get("/signup/")
    verification_id = verified_through_the_api(web, outbox, {"sms": True})

    page = web.post(
        "/signup/",
        {
            **ACCOUNT,
            "phone_number_country": "FR",
            "phone_number_number": "06 98 76 54 32",
            "verification_id": verification_id,
        },
    )

    assert page.status_code == 200 and not User.objects.exists()


def test_a_wrong_code_without_javascript_is_shown_on_the_code_field(web, outbox):
    sent = web.post(
        "/signup/", {**ACCOUNT, **PHONE_FIELDS, "consents_sms": "1", "phone_verify_action": "send"}
    )
    code = outbox.last_code(PHONE)

    page = web.post(
        "/signup/",
        {
            **ACCOUNT,
            **PHONE_FIELDS,
            "verification_id": code_from(sent.content.decode()),
            "code": f"{(int(code) + 1) % 10**6:06d}",
        },
    ).content.decode()

    assert "This code is not right." in page and not User.objects.exists()


# --- my consents ----------------------------------------------------------------------------


def test_the_consents_page_withdraws_a_channel_with_a_new_record(web, outbox):
    test_signup_without_javascript(web, outbox)  # signed in as ada, sms granted
    page = web.get("/consents/").content.decode()
    assert "+33 6 ** ** *6 78" in page and 'value="sms"' in page

    web.post("/consents/", {"channels": ["sms"]})

    latest = ConsentRecord.objects.latest("created_at")
    assert latest.action == "withdrawn" and latest.granted == []
    assert latest.recorded_by == f"user:{User.objects.get().pk}"
    assert ConsentRecord.objects.count() == 2


# --- French ---------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a user reads: text nodes, and the attributes that are shown or spoken."""

    SHOWN = ("aria-label", "placeholder", "title", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if value and (name in self.SHOWN or name.startswith("data-msg-")):
                self.chunks.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.chunks.append(" ".join(data.split()))


def shown_text(html: str) -> set[str]:
    parser = _Text()
    parser.feed(html)
    return set(parser.chunks)


# Words that are the same in both languages, and values that are not text.
SAME_IN_FRENCH = {"SMS", "·", "phone_verify", "Contact"}


def test_the_french_signup_page_has_no_untranslated_string(db):
    english = shown_text(Client(headers={"Accept-Language": "en"}).get("/signup/").content.decode())
    french_page = Client(headers={"Accept-Language": "fr"}).get("/signup/")
    french = shown_text(french_page.content.decode())

    assert french_page["Content-Language"] == "fr"
    untranslated = sorted(
        chunk
        for chunk in english & french
        if chunk not in SAME_IN_FRENCH
        and re.search("[A-Za-z]{2}", chunk)
        and not re.fullmatch(r"[^(]+ \(\+\d+\)", chunk)  # country names: checked above
        and not re.fullmatch(r"Contact \d", chunk)
    )
    assert untranslated == []
    # The comparison above only works if the French page shows French: check known strings.
    assert {"Envoyez-moi un code", "Créer mon compte", "Numéro de mobile"} <= french


def test_home_and_signup_pages_share_one_stylesheet(web):
    from django.contrib.staticfiles import finders

    stylesheets = {
        path: re.findall(r'<link rel="stylesheet" href="([^"]+)"', web.get(path).content.decode())
        for path in ("/", "/signup/")
    }
    assert stylesheets["/"] == stylesheets["/signup/"] == ["/static/example_project/site.css"]
    assert finders.find("example_project/site.css")
    with translation.override("fr"):
        assert (
            "Projet d’exemple phone_verify"
            in web.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
        )


def test_without_javascript_a_code_not_delivered_is_said_and_sent_again(web, outbox, settings):
    """DQE's message expired before delivery: the form says so on the code field, and "send"
    resends on the same verification, through the console fallback here."""
    from django.test import override_settings

    from .test_dqe import msg_answer

    dqe = {"URL": "https://dqe.example.test", "LICENCE": "L", "COMPANY": "MYCOMPANY"}
    fields = {**ACCOUNT, **PHONE_FIELDS, "consents_sms": "1"}
    with (
        override_settings(
            PHONE_VERIFY={
                **settings.PHONE_VERIFY,
                "PROVIDER": "dqe",
                "FALLBACK_PROVIDERS": ["console"],
                "PROVIDER_OPTIONS": {"dqe": dqe},
                "RESEND_COOLDOWN": 0,
            }
        ),
        responses.RequestsMock() as mock,
    ):
        mock.post(f"{dqe['URL']}/GDPR_MSG/", json=msg_answer(status="EXPIRED"))
        sent = web.post("/signup/", {**fields, "phone_verify_action": "send"})
        verification_id = code_from(sent.content.decode())
        checked = web.post(
            "/signup/", {**fields, "verification_id": verification_id, "code": "123456"}
        )
        again = web.post(
            "/signup/",
            {**fields, "verification_id": verification_id, "phone_verify_action": "send"},
        )

    assert "The code could not be delivered; ask for a new one." in checked.content.decode()
    assert code_from(again.content.decode()) == verification_id  # the same verification
    verification = Verification.objects.get()
    assert (verification.provider, verification.sends) == ("console", 2)
    assert outbox.last_code(PHONE)
