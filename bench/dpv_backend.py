"""django-phone-verify's SMS backend for the benchmark: keeps the last message in memory."""

from phone_verify.backends.base import BaseBackend


class MemoryBackend(BaseBackend):
    last_message = ""

    def __init__(self, **options):
        super().__init__(**options)
        self.exception_class = RuntimeError

    def send_sms(self, number, message):
        MemoryBackend.last_message = message

    def send_bulk_sms(self, numbers, message):
        MemoryBackend.last_message = message
