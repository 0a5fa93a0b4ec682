"""django-phone-verify's SMS backend for the deployed benchmark: what its documentation tells
users of a provider other than Twilio or Nexmo to write, a ``send_sms`` posting the message to
the provider's HTTP API. Here TeleSign's plain messaging API on the benchmark's fake provider
(``BENCH_PROVIDER_URL``), inside the request, as django-phone-verify sends."""

import base64
import os

import requests
from phone_verify.backends.base import BaseBackend

CUSTOMER_ID = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890"  # tests/fake_telesign.py's credentials
API_KEY = base64.b64encode(b"fake telesign key, 32 bytes long").decode()


class HttpBackend(BaseBackend):
    session = requests.Session()  # one per process, as a backend would keep its client

    def __init__(self, **options):
        super().__init__(**options)
        self.exception_class = requests.RequestException
        self.url = os.environ["BENCH_PROVIDER_URL"] + "/v1/messaging"

    def send_sms(self, number, message):
        answer = self.session.post(
            self.url,
            data={
                "phone_number": str(number).lstrip("+"),
                "message": message,
                "message_type": "OTP",
            },
            auth=(CUSTOMER_ID, API_KEY),
            timeout=10,
        )
        answer.raise_for_status()

    def send_bulk_sms(self, numbers, message):
        for number in numbers:
            self.send_sms(number, message)
