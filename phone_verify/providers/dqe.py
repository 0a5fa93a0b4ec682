"""DQE SMS Phone Confirmation: GDPR_MSG sends a 6-digit PIN and the consent flags, GDPR_VERIF
checks the PIN against the ``smsToken`` GDPR_MSG answered.

DQE generates the PIN and keeps it; it documents no delivery callback and no status query, so
the GDPR_MSG answer is the only delivery status there is (PENDING means "final unknown": the user
may enter the PIN anyway). DQE has no attempt limit: ours applies before GDPR_VERIF is called.

Every DQE value we act on is in one of the tables below; the README shows them to integrators.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.checks import CheckMessage, Error
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..consents import CHANNELS, CONTACTS, consent_key
from ..exceptions import InvalidConsents
from ..status import SendResult, Status, Verdict
from .base import HttpProvider, OutgoingCode, ProviderRequest, ProviderResponse

#: GDPR_MSG ``status`` -> our status. PENDING: handed to the operator, no receipt yet.
SEND_STATUSES: dict[str, Status] = {
    "PENDING": Status.SENT,
    "DELIVERED": Status.DELIVERED,
    "UNDELIVERABLE": Status.UNDELIVERABLE,
    "EXPIRED": Status.EXPIRED,
    "REJECTED": Status.REJECTED,
}


@dataclass(frozen=True)
class DqeError:
    """What one DQE error code means to us."""

    code: str  # our machine code (the verification's reason)
    message: str  # DQE's meaning, for logs and the README
    status: Status = Status.FAILED
    retryable: bool = False


#: GDPR_MSG error codes. 00 and 09 (sent, no delivery receipt) are not errors: the ``status``
#: field decides. 10 cannot happen (we only send 1/0) and 11 is refused before calling DQE.
SEND_ERRORS: dict[str, DqeError] = {
    "01": DqeError("provider_config", "Missing parameters."),
    "02": DqeError("provider_auth", "Service not authorized for this licence."),
    "03": DqeError("invalid_phone_number", "Invalid phone number.", Status.REJECTED),
    "04": DqeError("invalid_country", "Invalid country code.", Status.REJECTED),
    "05": DqeError("provider_config", "Invalid duration."),
    "06": DqeError("invalid_country", "Country not found.", Status.REJECTED),
    "07": DqeError("provider_config", "Invalid company name."),
    "08": DqeError("provider_unavailable", "Internal API error.", retryable=True),
    "10": DqeError("provider_config", "Invalid consent values."),
    "11": DqeError("no_channel_selected", "At least one communication channel must be enabled."),
}
SEND_OK_CODES = {"00": "No errors.", "09": "No delivery status received."}

#: GDPR_VERIF error codes that are an answer about the PIN, and those that are errors.
CHECK_VERDICTS: dict[str, Verdict] = {
    "02": Verdict.INVALID,  # "PIN must contain 6 digits": refused locally first, but if it comes
    "03": Verdict.EXPIRED,
    "04": Verdict.INVALID,  # wrong PIN for this token and phone: counts as an attempt
}
CHECK_ERRORS: dict[str, DqeError] = {
    "01": DqeError("provider_config", "Missing parameters."),
    "05": DqeError("invalid_token", "Invalid token."),
}

#: The channel names of DQE's parameters: contact 1 has its own spelling, 2-5 take a suffix.
PRIMARY_PARAMS = {"sms": "Sms", "email": "Email", "phone": "Phonecom", "post": "Post"}
SECONDARY_PARAMS = {"sms": "SMS", "email": "EMAIL", "phone": "PHONE", "post": "POST"}

COMPANY_LENGTH = (3, 11)
CUSTOM_SMS_MAX = 125
PIN = re.compile(r"\d{6}")


def consent_params(flags: Mapping[str, bool]) -> dict[str, str]:
    """Our 20 consent flags as DQE's parameters, each ``"1"`` or ``"0"``."""
    params = {}
    for contact in CONTACTS:
        for channel in CHANNELS:
            name = (
                PRIMARY_PARAMS[channel] if contact == 1 else f"{SECONDARY_PARAMS[channel]}{contact}"
            )
            params[name] = "1" if flags.get(consent_key(channel, contact)) else "0"
    return params


class DqeProvider(HttpProvider):
    """Options (``PHONE_VERIFY["PROVIDER_OPTIONS"]["dqe"]``): ``URL`` (the server DQE assigned),
    ``LICENCE``, ``COMPANY`` (SMS sender, 3-11 characters), ``CUSTOM_SMS`` (text before the PIN,
    at most 125 characters), ``METHOD`` (``POST``, the default, keeps the licence out of server
    logs; or ``GET``), ``TIME_ZONE`` of DQE's ``dateTime`` (undocumented; Europe/Paris)."""

    name = "dqe"
    generates_code = True
    sends_consents = True
    required_options = ("URL", "LICENCE", "COMPANY")
    default_custom_sms = "Your verification code:"

    @property
    def code_pattern(self) -> re.Pattern[str]:
        return PIN  # DQE's PINs are 6 digits whatever CODE_LENGTH says

    @property
    def method(self) -> str:
        return str(self.options.get("METHOD", "POST")).upper()

    @property
    def custom_sms(self) -> str:
        return str(self.options.get("CUSTOM_SMS") or self.default_custom_sms)

    def validate_request(self, phone_number: str, consents: Mapping[str, bool]) -> None:
        if not any(consents.values()):
            raise InvalidConsents(
                _("Choose at least one way we may contact you."), code="no_channel_selected"
            )

    # --- GDPR_MSG ---------------------------------------------------------------------------

    def build_send_request(self, message: OutgoingCode) -> ProviderRequest:
        params = {
            "Licence": str(self.options.get("LICENCE", "")),
            "Phone": message.digits,
            "Country": message.country,
            "Company": str(self.options.get("COMPANY", "")),
            "Custom_sms": self.custom_sms,
            "Duration": str(max(1, math.ceil(message.lifetime / 60))),
            **consent_params(message.consents),
        }
        return self._request("GDPR_MSG", params)

    def parse_send_response(self, response: ProviderResponse, message: OutgoingCode) -> SendResult:
        answer = response.payload
        error_code = self._error_code(answer)
        if error_code not in SEND_OK_CODES:
            raise self._error(SEND_ERRORS.get(error_code), error_code, answer)
        token = str(answer.get("smsToken") or "")
        if not token:
            # Sent, maybe, but without a token the PIN can never be checked; retrying could
            # send a second SMS, so this ends the verification.
            raise self.error(
                "DQE answered without an smsToken", code="provider_error", response=answer
            )
        dqe_status = str(answer.get("status") or "")
        now = timezone.now()
        return SendResult(
            status=SEND_STATUSES.get(dqe_status, Status.SENT),
            provider_reference=token,
            provider_status=dqe_status or error_code,
            expires_at=self._expires_at(answer.get("timeout"), now),
            occurred_at=self._parse_datetime(answer.get("dateTime")),
            raw=answer,
            consent_echo=self._echo(answer.get("channels")),
        )

    # --- GDPR_VERIF -------------------------------------------------------------------------

    def build_check_request(
        self, provider_reference: str, phone_number: str, code: str
    ) -> ProviderRequest:
        # No Licence: the smsToken is the credential.
        params = {"Phone": phone_number.lstrip("+"), "Token": provider_reference, "Pin": code}
        return self._request("GDPR_VERIF", params)

    def parse_check_response(self, response: ProviderResponse) -> Verdict:
        answer = response.payload
        error_code = self._error_code(answer)
        if error_code == "00":
            return Verdict.VALID if answer.get("status") == "OK" else Verdict.INVALID
        if error_code in CHECK_VERDICTS:
            return CHECK_VERDICTS[error_code]
        # An undocumented code on a check is retried (503 to the user, no attempt counted):
        # a check can be repeated safely, unlike a send.
        raise self._error(
            CHECK_ERRORS.get(error_code)
            or DqeError("provider_unavailable", "Undocumented DQE error.", retryable=True),
            error_code,
            answer,
        )

    # --- configuration ----------------------------------------------------------------------

    def check_configuration(self) -> list[CheckMessage]:
        errors = super().check_configuration()
        company = str(self.options.get("COMPANY", ""))
        low, high = COMPANY_LENGTH
        if company and not low <= len(company) <= high:
            errors.append(
                Error(
                    f"{self.option_key('COMPANY')} is the SMS sender name: "
                    f"{low} to {high} characters, not {len(company)} ({company!r}).",
                    id="phone_verify.E102",
                )
            )
        if len(self.custom_sms) > CUSTOM_SMS_MAX:
            errors.append(
                Error(
                    f"{self.option_key('CUSTOM_SMS')} is at most {CUSTOM_SMS_MAX} characters "
                    f"(DQE appends the PIN), not {len(self.custom_sms)}.",
                    id="phone_verify.E103",
                )
            )
        if self.method not in ("POST", "GET"):
            errors.append(
                Error(
                    f"{self.option_key('METHOD')} must be 'POST' or 'GET', not {self.method!r}.",
                    id="phone_verify.E104",
                )
            )
        try:
            _ = self.time_zone  # raises for an unknown name
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors.append(
                Error(
                    f"{self.option_key('TIME_ZONE')} is not a time zone name: "
                    f"{self.options.get('TIME_ZONE')!r}.",
                    id="phone_verify.E105",
                )
            )
        return errors

    # --- helpers ----------------------------------------------------------------------------

    @property
    def time_zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(str(self.options.get("TIME_ZONE") or "Europe/Paris"))

    def _request(self, endpoint: str, params: dict[str, str]) -> ProviderRequest:
        url = f"{self.base_url}/{endpoint}/"  # DQE's paths end with a slash
        if self.method == "GET":
            return ProviderRequest("GET", url, params=params)
        return ProviderRequest("POST", url, data=params)

    @staticmethod
    def _error_code(answer: Mapping[str, Any]) -> str:
        """The first error code that is not 00 (``{"03": "03 - Invalid phone number"}``)."""
        errors = answer.get("errors")
        codes = [str(code) for code in errors] if isinstance(errors, Mapping) else []
        return next((code for code in codes if code != "00"), "00")

    def _error(self, error: DqeError | None, dqe_code: str, answer: Any) -> Exception:
        if error is None:
            error = DqeError("provider_error", "Undocumented DQE error.")
        errors = answer.get("errors")
        detail = errors.get(dqe_code) if isinstance(errors, Mapping) else None
        detail = str(detail or f"{dqe_code} - {error.message}")
        return self.error(
            f"DQE: {detail}",
            code=error.code,
            provider_code=dqe_code,
            status=error.status,
            retryable=error.retryable,
            response=answer,
        )

    @staticmethod
    def _expires_at(timeout: Any, now: dt.datetime) -> dt.datetime | None:
        try:
            minutes = int(str(timeout))
        except ValueError:
            return None
        return now + dt.timedelta(minutes=minutes) if minutes > 0 else None

    def _parse_datetime(self, value: Any) -> dt.datetime | None:
        try:
            naive = dt.datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S.%f")
        except ValueError:
            return None
        return naive.replace(tzinfo=self.time_zone)

    @staticmethod
    def _echo(channels: Any) -> dict[str, bool] | None:
        """DQE's ``channels`` (primary contact, 0/1) as our flags; None when absent."""
        if not isinstance(channels, Mapping):
            return None
        return {key: str(channels[key]) == "1" for key in CHANNELS if key in channels}
