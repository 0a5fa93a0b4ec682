"""The console provider: prints codes on standard output and keeps them in ``outbox``.

For development, the demo and tests: nothing leaves the machine. Refused by a system check when
DEBUG is off, unless ``PHONE_VERIFY["ALLOW_CONSOLE_PROVIDER"]`` is True.
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils import timezone, translation
from django.utils.translation import gettext

from ..phones import mask_phone
from ..sms import with_webotp
from ..status import SendResult, Status
from .base import OutgoingCode, Provider


@dataclass(frozen=True)
class ConsoleMessage:
    verification_id: uuid.UUID
    phone_number: str
    code: str
    sent_at: dt.datetime
    consents: dict[str, bool]
    text: str = ""  # the SMS a real provider would have carried


def message_text(code: str, language: str = "") -> str:
    """The console's SMS text, in the user's language, ending with the WebOTP line when
    ``WEBOTP_DOMAIN`` is set."""
    with translation.override(language or translation.get_language()):
        return with_webotp(gettext("Your verification code is %(code)s.") % {"code": code}, code)


class Outbox:
    """The messages the console provider sent in this process, newest last (bounded)."""

    def __init__(self, maxlen: int = 1000) -> None:
        self._messages: deque[ConsoleMessage] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def append(self, message: ConsoleMessage) -> None:
        with self._lock:
            self._messages.append(message)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()

    def last_code(self, phone_number: str) -> str | None:
        """The latest code sent to ``phone_number`` (E.164), if any."""
        with self._lock:
            for message in reversed(self._messages):
                if message.phone_number == phone_number:
                    return message.code
        return None

    def __iter__(self) -> Iterator[ConsoleMessage]:
        with self._lock:
            return iter(list(self._messages))

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, index: int) -> ConsoleMessage:
        return self._messages[index]


outbox = Outbox()


class ConsoleProvider(Provider):
    name = "console"

    def send(self, message: OutgoingCode) -> SendResult:
        assert message.code is not None, "the console provider carries codes we generate"
        print(
            f"phone_verify console: code {message.code} for {mask_phone(message.phone_number)}",
            file=sys.stdout,
            flush=True,
        )
        outbox.append(
            ConsoleMessage(
                verification_id=message.verification_id,
                phone_number=message.phone_number,
                code=message.code,
                sent_at=timezone.now(),
                consents=dict(message.consents),
                text=message_text(message.code, message.language),
            )
        )
        return SendResult(
            status=Status.DELIVERED,
            provider_reference=f"console-{message.verification_id}-{message.send_number}",
            provider_status="printed",
        )
