"""The example signup page in a real browser: Debian's Chromium, headless, driven by Playwright.

The live server runs in this process, so the console provider's outbox gives the code the
"SMS" carried. A screenshot of each step goes to the test's output directory (or to
``$PHONE_VERIFY_SCREENSHOTS`` when set). Without Chromium the tests skip, unless
``PHONE_VERIFY_REQUIRE_BROWSER`` is set (``.ci/run`` sets it): then they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from phone_verify.models import ConsentRecord, Verification
from phone_verify.providers.console import outbox as console_outbox

CHROMIUM = os.environ.get("PHONE_VERIFY_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PHONE = "+33612345678"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        if os.environ.get("PHONE_VERIFY_REQUIRE_BROWSER"):
            pytest.fail(f"PHONE_VERIFY_REQUIRE_BROWSER is set but {CHROMIUM} is missing")
        pytest.skip(f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; our ORM calls between page
    # steps are still plain synchronous code, which Django would otherwise refuse here.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=FLAGS, headless=True
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def shots(tmp_path, request):
    base = os.environ.get("PHONE_VERIFY_SCREENSHOTS")
    folder = Path(base) / request.node.name if base else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    taken = []

    def shot(page, name):
        path = folder / f"{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)
        return path

    yield shot
    assert taken and all(path.stat().st_size > 1000 for path in taken)


def open_signup(chromium, live_server, javascript=True, init_script=""):
    context = chromium.new_context(java_script_enabled=javascript, locale="en-US")
    page = context.new_page()
    if init_script:
        page.add_init_script(init_script)
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/signup/")
    page.fill("#id_username", "ada")
    page.fill("#id_first_name", "Ada")
    page.fill("#id_last_name", "Lovelace")
    page.fill("#id_email", "ada@example.com")
    page.fill("#id_password1", "xK9!analytical-engine")
    page.fill("#id_password2", "xK9!analytical-engine")
    page.select_option("[name=phone_number_country]", "FR")
    page.fill("[name=phone_number_number]", "06 12 34 56 78")
    page.check("#id_consents_sms")
    page.check("#id_consents_email")
    page.click("[data-pv-secondary] summary")
    page.check("#id_consents_sms2")
    return page


def assert_signed_up():
    user = User.objects.get(username="ada")
    verification = Verification.objects.get(user=user)
    assert (verification.phone_number, verification.status) == (PHONE, "verified")
    record = ConsentRecord.objects.filter(verification=verification).latest("created_at")
    assert record.granted == ["sms", "email", "sms2"]
    assert record.seal_is_valid()


def test_signup_with_javascript(chromium, live_server, shots):
    page = open_signup(chromium, live_server)
    shots(page, "filled")

    page.click("[data-pv-send]")
    page.wait_for_selector("[data-pv-status]:has-text('We sent you a code.')")
    assert page.is_disabled("[data-pv-send]")  # the resend countdown runs
    shots(page, "code-sent")
    page.fill("#id_code", console_outbox.last_code(PHONE))
    page.click("[data-pv-check]")
    page.wait_for_selector("[data-pv-status]:has-text('Phone number verified.')")
    shots(page, "verified")
    page.click("[data-signup]")
    page.wait_for_url(f"{live_server.url}/consents/")
    shots(page, "signed-up")

    assert_signed_up()
    assert "+33 6 ** ** *6 78" in page.content()


def test_a_wrong_code_shows_the_error_next_to_the_field(chromium, live_server, shots):
    page = open_signup(chromium, live_server)
    page.click("[data-pv-send]")
    page.wait_for_selector("[data-pv-status]:has-text('We sent you a code.')")
    code = console_outbox.last_code(PHONE)

    page.fill("#id_code", f"{(int(code) + 1) % 10**6:06d}")
    page.click("[data-pv-check]")
    page.wait_for_selector("[data-pv-error=code]:has-text('This code is not right.')")
    shots(page, "wrong-code")

    assert Verification.objects.get().attempts == 1
    assert not User.objects.exists()


# WebOTP, stubbed: Chromium offers the API only where it can read SMS (Android). The stub
# records what the page asks for and hands the code over when the test says so.
WEBOTP_STUB = """
window.otpAsked = [];
window.OTPCredential = window.OTPCredential || function OTPCredential() {};
const fakeGet = (options) => {
  window.otpAsked.push(JSON.stringify({otp: options.otp}));
  return new Promise((resolve) => { window.giveOtp = resolve; });
};
if (navigator.credentials) navigator.credentials.get = fakeGet;
else Object.defineProperty(navigator, "credentials", {value: {get: fakeGet}});
"""
NO_WEBOTP = """
delete window.OTPCredential;
window.otpAsked = [];
if (navigator.credentials) navigator.credentials.get = (options) => {
  window.otpAsked.push(JSON.stringify(options));
  return new Promise(() => {});
};
"""


def test_webotp_fills_and_checks_the_code_with_no_typing(chromium, live_server, shots, settings):
    settings.PHONE_VERIFY = {**settings.PHONE_VERIFY, "WEBOTP_DOMAIN": "localhost"}
    page = open_signup(chromium, live_server, init_script=WEBOTP_STUB)

    page.click("[data-pv-send]")
    page.wait_for_selector("[data-pv-status]:has-text('We sent you a code.')")
    page.wait_for_function("window.giveOtp !== undefined")
    assert page.evaluate("window.otpAsked") == ['{"otp":{"transport":["sms"]}}']
    sms = console_outbox[-1]
    assert sms.text.endswith(f"\n\n@localhost #{sms.code}")  # what Android reads

    page.evaluate("code => window.giveOtp({code: code, type: 'otp'})", sms.code)
    page.wait_for_selector("[data-pv-status]:has-text('Phone number verified.')")
    shots(page, "verified-by-webotp")
    assert page.input_value("#id_code") == sms.code
    assert Verification.objects.get().status == "verified"
    page.click("[data-signup]")
    page.wait_for_url(f"{live_server.url}/consents/")
    assert_signed_up()


def test_without_webotp_nothing_changes(chromium, live_server, shots):
    page = open_signup(chromium, live_server, init_script=NO_WEBOTP)
    page.click("[data-pv-send]")
    page.wait_for_selector("[data-pv-status]:has-text('We sent you a code.')")
    assert page.input_value("#id_code") == ""
    page.fill("#id_code", console_outbox.last_code(PHONE))
    page.click("[data-pv-check]")
    page.wait_for_selector("[data-pv-status]:has-text('Phone number verified.')")
    shots(page, "verified-by-typing")
    assert page.evaluate("window.otpAsked") == []


def test_a_code_that_was_not_delivered_is_offered_again(chromium, live_server, shots, settings):
    """DQE answers that the message expired before delivery: the check says so, and the widget
    offers a new code, which goes through the fallback provider (the console here)."""
    from django.test import override_settings

    from .fake_dqe import FakeDqe
    from .fake_server import running

    fake = FakeDqe(status_next=["EXPIRED"])
    with running(fake) as url:
        options = {"URL": url, "LICENCE": fake.licence, "COMPANY": "DEMO"}
        with override_settings(
            PHONE_VERIFY={
                **settings.PHONE_VERIFY,
                "PROVIDER": "dqe",
                "FALLBACK_PROVIDERS": ["console"],
                "PROVIDER_OPTIONS": {"dqe": options},
                "RESEND_COOLDOWN": 2,
            }
        ):
            page = open_signup(chromium, live_server)
            page.click("[data-pv-send]")
            page.wait_for_selector("[data-pv-status]:has-text('We sent you a code.')")
            page.fill("#id_code", "123456")  # whatever the person types: nothing arrived
            page.click("[data-pv-check]")
            not_delivered = "The code could not be delivered; ask for a new one."
            page.wait_for_selector(f"[data-pv-error=code]:has-text('{not_delivered}')")
            page.wait_for_selector("[data-pv-send]:has-text('Send a new code'):enabled")
            shots(page, "not-delivered")

            page.click("[data-pv-send]")
            page.wait_for_selector("[data-pv-status]:has-text('We sent you a code.')")
            page.fill("#id_code", console_outbox.last_code(PHONE))
            page.click("[data-pv-check]")
            page.wait_for_selector("[data-pv-status]:has-text('Phone number verified.')")
            shots(page, "verified")

    verification = Verification.objects.get()
    assert (verification.provider, verification.status, verification.sends) == (
        "console",
        "verified",
        2,
    )
    assert not fake.sms  # DQE texted no PIN that arrived


def test_signup_without_javascript(chromium, live_server, shots):
    page = open_signup(chromium, live_server, javascript=False)
    shots(page, "filled")

    page.click("[data-pv-send]")  # a plain form post
    page.wait_for_selector("#id_code")
    assert "We sent you a code." in page.inner_text("[data-pv-status]")
    assert page.input_value("#id_password1") == ""  # Django does not send passwords back
    shots(page, "code-sent")
    page.fill("#id_password1", "xK9!analytical-engine")
    page.fill("#id_password2", "xK9!analytical-engine")
    page.fill("#id_code", console_outbox.last_code(PHONE))
    page.click("[data-signup]")
    page.wait_for_url(f"{live_server.url}/consents/")
    shots(page, "signed-up")

    assert_signed_up()


def test_admin_screenshots(chromium, live_server, shots, django_user_model):
    """The consent list, a consent detail and the funnel, as an auditor sees them."""
    from .test_admin_review import make_records

    make_records(12)
    django_user_model.objects.create_superuser("auditor", "a@example.com", "pw-for-tests-only")
    page = chromium.new_context(locale="en-US", viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/phone_verify/consentrecord/")
    page.fill("#id_username", "auditor")
    page.fill("#id_password", "pw-for-tests-only")
    page.click("input[type=submit]")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 12
    shots(page, "consent-list")

    page.click("#result_list tbody tr:first-child th a")
    page.wait_for_selector("text=History of this phone number")
    shots(page, "consent-detail")

    page.goto(f"{live_server.url}/admin/phone_verify/verification/funnel/")
    page.wait_for_selector("[data-funnel] svg")
    shots(page, "funnel")
