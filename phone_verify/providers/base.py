"""The provider interface. One module per provider under ``phone_verify.providers``, one class in
each, registered by name in ``registry.py``.

A provider knows one provider's wire format and nothing about views or the ORM: it is handed an
``OutgoingCode`` and answers a ``SendResult``; it is asked to check a code and answers a
``Verdict``; it turns callbacks into ``StatusReport`` values. Services do the rest.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.checks import CheckMessage

from ..conf import app_settings
from ..status import SendResult, Verdict


@dataclass(frozen=True)
class OutgoingCode:
    """Everything a provider may need to send one code."""

    verification_id: uuid.UUID
    phone_number: str  # E.164
    country: str  # ISO-3166 alpha-3
    send_number: int  # 1 for the first send, 2 for the first resend...
    lifetime: int  # seconds the code should stay valid
    code: str | None = None  # None when the provider generates the code itself
    consents: Mapping[str, bool] = field(default_factory=dict)
    language: str = ""
    ip: str | None = None

    @property
    def digits(self) -> str:
        """The number without its ``+``."""
        return self.phone_number.lstrip("+")


class Provider:
    """Base class of every provider: subclass it, set ``name``, implement ``send``.

    Extension points:

    - ``generates_code``: True when the provider makes the code and checks it (then implement
      ``check``); False when we generate it and it only carries it (then ``OutgoingCode.code`` is
      set and the check is a local hash comparison).
    - ``sends_consents``: True when the provider transmits the consent flags with the code
      (``OutgoingCode.consents`` is filled only then, to spare a query for the others).
    - ``code_pattern``: what a well-formed code looks like, so that malformed input is refused
      locally without counting an attempt or calling the provider.
    - ``validate_request``: refuse a verification before anything is stored or sent (raise a
      ``PhoneVerifyError``), e.g. when the provider cannot accept the consents given.
    - ``check_configuration``: system-check messages about this provider's options.
    """

    name: ClassVar[str]
    generates_code: ClassVar[bool] = False
    sends_consents: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options: Mapping[str, Any] = options or {}

    @property
    def code_pattern(self) -> re.Pattern[str]:
        return re.compile(rf"\d{{{app_settings.CODE_LENGTH}}}")

    def code_is_well_formed(self, code: str) -> bool:
        return bool(self.code_pattern.fullmatch(code))

    def validate_request(self, phone_number: str, consents: Mapping[str, bool]) -> None:
        """Raise a ``PhoneVerifyError`` when this provider cannot take this request."""

    def send(self, message: OutgoingCode) -> SendResult:
        """Hand one code to the provider. Raise ``ProviderError`` when it refuses or fails."""
        raise NotImplementedError

    def check(self, provider_reference: str, phone_number: str, code: str) -> Verdict:
        """Ask the provider whether ``code`` is right (only when ``generates_code``)."""
        raise NotImplementedError(f"{self.name} does not check codes itself")

    def check_configuration(self) -> list[CheckMessage]:
        """System-check messages about this provider's options (none by default)."""
        return []
