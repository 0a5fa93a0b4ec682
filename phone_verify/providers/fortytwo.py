"""Fortytwo two-factor authentication: ``POST /1/2fa`` has Fortytwo generate and text a code,
``POST /1/2fa/{client_ref}/{code}`` validates it, delivery reports come to our webhook.

The ``client_ref`` is ours: the verification id for its first code, ``<id>-<n>`` for code n. A
send retried after a lost answer reuses it and gets -52 "client ref already exists", which means
the first try went through: counted as sent, so a timeout never texts two codes. Fortytwo codes
live 5 minutes, whatever we ask. Callbacks are unsigned: they are authenticated by the HTTP Basic
credentials of the callback URL (a secret of ``WEBHOOK_SECRETS`` as the password) and,
optionally, the source address (``CALLBACK_IPS``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from django.core.checks import CheckMessage, Error, Warning
from django.utils import timezone

from ..codes import matches_any_secret
from ..conf import app_settings, setting_key
from ..exceptions import CallbackRejected, MalformedCallback, ProviderError
from ..sms import fits_one_sms, sms_length, with_webotp
from ..status import SendResult, Status, StatusReport, Verdict
from .base import HttpProvider, InboundCallback, OutgoingCode, ProviderRequest, ProviderResponse

logger = logging.getLogger("phone_verify")

CODE_LIFETIME = dt.timedelta(minutes=5)  # fixed by Fortytwo
CODE_PLACEHOLDER = "{#TFA_CODE}"
DEFAULT_TEMPLATE = "Your authentication code is: {#TFA_CODE}"
CODE_LENGTHS = (6, 20)  # 20 documented; below 6 the official SDK refuses (-57 at Fortytwo)
CODE_PATTERNS = {"numeric": "[0-9]", "alpha": "[A-Za-z]", "alphanumeric": "[A-Za-z0-9]"}
SENDER_ID = re.compile(r"[0-9]{1,15}|[A-Za-z0-9 ]{1,11}")

#: Delivery report states (SMPP v3.4 names) -> our status; None: no change.
DELIVERY_STATUSES: dict[str, Status | None] = {
    "ENROUTE": Status.SENT,
    "ACCEPTD": Status.SENT,
    "UNKNOWN": Status.SENT,
    "DELIVRD": Status.DELIVERED,
    "UNDELIV": Status.UNDELIVERABLE,
    "DELETED": Status.UNDELIVERABLE,
    "EXPIRED": Status.EXPIRED,  # the message expired undelivered, not the code
    "REJECTD": Status.REJECTED,
}


@dataclass(frozen=True)
class FortytwoCode:
    """What one ``result_info.status_code`` means to us (HTTP status as documented)."""

    http: int
    message: str
    code: str = "provider_config"  # our machine code (the verification's reason)
    status: Status = Status.FAILED
    retryable: bool = False
    verdict: Verdict | None = None  # for validation answers that are about the code


_AUTH = {"code": "provider_auth"}
#: Every code of Fortytwo's table. 0 is Success (201) on a request and Valid (200) on a check.
CODES: dict[int, FortytwoCode] = {
    -50: FortytwoCode(401, "Your authorization token is invalid.", **_AUTH),
    -51: FortytwoCode(401, "Authorization token not provided.", **_AUTH),
    -52: FortytwoCode(422, "Client ref provided already exists."),  # on a send: already sent
    -53: FortytwoCode(200, "Invalid (the code expired).", verdict=Verdict.EXPIRED),
    -54: FortytwoCode(422, "Declined (wrong code).", verdict=Verdict.INVALID),
    # "The code provided does not match the authorization token and client_ref": the wording
    # covers a wrong code too, so it counts as one against our attempt limit.
    -55: FortytwoCode(422, "No code for this client ref and token.", verdict=Verdict.INVALID),
    -56: FortytwoCode(422, "No code was provided.", verdict=Verdict.INVALID),
    -57: FortytwoCode(422, "Code length too short."),
    -58: FortytwoCode(422, "Code length too long."),
    -59: FortytwoCode(
        422, "Phone number format is incorrect.", "invalid_phone_number", Status.REJECTED
    ),
    -60: FortytwoCode(422, "No phone number provided.", "invalid_phone_number", Status.REJECTED),
    -61: FortytwoCode(422, "Callback URL is invalid."),
    -62: FortytwoCode(422, "No client ref provided."),
    -63: FortytwoCode(422, "Sender ID is too long."),
    -64: FortytwoCode(400, "Request data provided was invalid."),
    -65: FortytwoCode(400, "Something went wrong.", "provider_unavailable", retryable=True),
    -66: FortytwoCode(400, "List of allowed IPs contains invalid IP addresses.", **_AUTH),
    -67: FortytwoCode(400, "The request IP is not in your list of allowed IPs.", **_AUTH),
    -68: FortytwoCode(422, "Message template must contain {#TFA_CODE}."),
    -69: FortytwoCode(422, "Message template exceeds the length of one SMS."),
}
ALREADY_SENT = -52
CALLBACK_REF = "client_ref"  # the query parameter of our callback URL naming the code's client_ref


def client_ref(verification_id: object, send_number: int) -> str:
    """Our reference of one code: unique per send, the same for every retry of that send."""
    return str(verification_id) if send_number == 1 else f"{verification_id}-{send_number}"


class FortytwoProvider(HttpProvider):
    """Options (``PHONE_VERIFY["PROVIDER_OPTIONS"]["fortytwo"]``): ``URL``, ``TOKEN``,
    ``SENDER_ID`` (at most 11 letters/digits or 15 digits; the token's default when unset),
    ``MESSAGE_TEMPLATE`` (with ``{#TFA_CODE}``, one SMS once the code is in), ``CODE_TYPE``
    (``numeric``, ``alpha``, ``alphanumeric``), ``CASE_SENSITIVE``, ``CALLBACK_IPS`` (addresses
    or networks callbacks may come from; empty: any). The code length is ``CODE_LENGTH``."""

    name = "fortytwo"
    generates_code = True
    required_options = ("URL", "TOKEN")

    @property
    def code_type(self) -> str:
        return str(self.options.get("CODE_TYPE") or "numeric")

    @property
    def template(self) -> str:
        """The SMS text Fortytwo fills in; with the WebOTP line when ``WEBOTP_DOMAIN`` is set
        (the placeholder twice: Fortytwo puts the code in both)."""
        text = str(self.options.get("MESSAGE_TEMPLATE") or DEFAULT_TEMPLATE)
        return with_webotp(text, CODE_PLACEHOLDER)

    @property
    def code_pattern(self) -> re.Pattern[str]:
        characters = CODE_PATTERNS.get(self.code_type, CODE_PATTERNS["numeric"])
        return re.compile(f"{characters}{{{app_settings.CODE_LENGTH}}}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.options.get('TOKEN', '')}"}

    # --- request code -----------------------------------------------------------------------

    def build_send_request(self, message: OutgoingCode) -> ProviderRequest:
        body: dict[str, Any] = {
            "client_ref": client_ref(message.verification_id, message.send_number),
            "phone_number": message.digits,
            "code_length": app_settings.CODE_LENGTH,
            "code_type": self.code_type,
            "case_sensitive": bool(self.options.get("CASE_SENSITIVE", False)),
            "message_template": self.template,
        }
        if callback_url := self.callback_url():
            # Our client_ref rides in the URL: reports name the message id, which we never
            # learn when a retried send answers -52 (the first try went through).
            body["callback_url"] = f"{callback_url}?{urlencode({CALLBACK_REF: body['client_ref']})}"
        if sender_id := self.options.get("SENDER_ID"):
            body["sender_id"] = str(sender_id)
        return ProviderRequest("POST", f"{self.base_url}/1/2fa", json=body, headers=self.headers)

    def parse_send_response(self, response: ProviderResponse, message: OutgoingCode) -> SendResult:
        status_code, description = self._result_info(response)
        reference = client_ref(message.verification_id, message.send_number)
        if status_code == 0 or status_code == ALREADY_SENT:
            # -52: this client_ref was used, by an earlier try of this very send whose answer
            # we lost. The code is out; the message id is not known then.
            result = response.payload.get("result")
            message_id = result.get("message_id") if isinstance(result, Mapping) else None
            return SendResult(
                status=Status.PENDING,
                provider_reference=reference,
                provider_status=str(status_code),
                expires_at=timezone.now() + CODE_LIFETIME,
                raw=response.payload,
                message_id=str(message_id or ""),
            )
        raise self._error(status_code, description, response)

    # --- validate code ----------------------------------------------------------------------

    def build_check_request(
        self, provider_reference: str, phone_number: str, code: str
    ) -> ProviderRequest:
        path = f"/1/2fa/{quote(provider_reference, safe='')}/{quote(code, safe='')}"
        return ProviderRequest("POST", self.base_url + path, headers=self.headers)

    def parse_check_response(self, response: ProviderResponse) -> Verdict:
        status_code, description = self._result_info(response)
        if status_code == 0:
            return Verdict.VALID
        known = CODES.get(status_code)
        if known is not None and known.verdict is not None:
            return known.verdict
        raise self._error(status_code, description, response)

    # --- callbacks --------------------------------------------------------------------------

    def authenticate_callback(self, callback: InboundCallback) -> None:
        if not matches_any_secret(callback.secret, list(app_settings.WEBHOOK_SECRETS)):
            raise CallbackRejected()
        networks = self.callback_networks()
        if networks and not _address_in(callback.remote_addr, networks):
            raise CallbackRejected()

    def parse_callback(self, callback: InboundCallback) -> list[StatusReport]:
        payload = callback.json()
        items = payload.get("data") if isinstance(payload, Mapping) else None
        if not isinstance(items, list) or not all(
            isinstance(item, Mapping) and item.get("message_id") and item.get("status")
            for item in items
        ):
            raise MalformedCallback()
        own_reference = parse_qs(urlsplit(callback.path).query).get(CALLBACK_REF, [""])[0]
        return [self._report(item, own_reference) for item in items]

    def _report(self, item: Mapping[str, Any], own_reference: str = "") -> StatusReport:
        state = str(item["status"]).upper()
        if state not in DELIVERY_STATUSES:
            logger.warning("fortytwo delivery state %r is not in our table: no change", state)
        return StatusReport(
            provider_reference=str(item["message_id"]),
            status=DELIVERY_STATUSES.get(state),
            provider_status=state,
            occurred_at=_from_milliseconds(item.get("timestamp")),
            raw=dict(item),
            own_reference=own_reference,
        )

    def callback_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(str(net), strict=False) for net in self.callback_ips]

    @property
    def callback_ips(self) -> list[str]:
        value = self.options.get("CALLBACK_IPS") or []
        return [value] if isinstance(value, str) else list(value)

    # --- configuration ----------------------------------------------------------------------

    def check_configuration(self) -> list[CheckMessage]:
        errors = super().check_configuration()
        sender_id = self.options.get("SENDER_ID")
        if sender_id and not SENDER_ID.fullmatch(str(sender_id)):
            errors.append(
                Error(
                    f"{self.option_key('SENDER_ID')} must be at most 11 letters and digits, "
                    f"or at most 15 digits, not {sender_id!r}.",
                    id="phone_verify.E201",
                )
            )
        low, high = CODE_LENGTHS
        if not low <= app_settings.CODE_LENGTH <= high:
            errors.append(
                Error(
                    f"{setting_key('CODE_LENGTH')} must be from {low} to {high} with Fortytwo, "
                    f"not {app_settings.CODE_LENGTH}.",
                    id="phone_verify.E202",
                )
            )
        errors += self._check_template()
        if self.code_type not in CODE_PATTERNS:
            errors.append(
                Error(
                    f"{self.option_key('CODE_TYPE')} must be one of "
                    f"{', '.join(CODE_PATTERNS)}, not {self.code_type!r}.",
                    id="phone_verify.E204",
                )
            )
        try:
            self.callback_networks()
        except ValueError as exc:
            errors.append(
                Error(f"{self.option_key('CALLBACK_IPS')}: {exc}.", id="phone_verify.E205")
            )
        if not app_settings.WEBHOOK_SECRETS:
            errors.append(
                Warning(
                    f"Fortytwo is not given a callback URL: {setting_key('WEBHOOK_SECRETS')} "
                    "is empty, so no delivery report will arrive.",
                    hint="Set a long random secret (the example project: "
                    "PHONE_VERIFY_WEBHOOK_SECRET).",
                    id="phone_verify.W201",
                )
            )
        return errors

    def _check_template(self) -> list[CheckMessage]:
        key = self.option_key("MESSAGE_TEMPLATE")
        if CODE_PLACEHOLDER not in self.template:
            return [Error(f"{key} must contain {CODE_PLACEHOLDER}.", id="phone_verify.E203")]
        text = self.template.replace(CODE_PLACEHOLDER, "0" * app_settings.CODE_LENGTH)
        if not fits_one_sms(text):
            units, limit = sms_length(text)
            return [
                Error(
                    f"{key} does not fit one SMS once the code "
                    f"{'and the WebOTP line are' if app_settings.WEBOTP_DOMAIN else 'is'} in: "
                    f"{units} of {limit} "
                    f"{'GSM-7 septets' if limit == 160 else 'UCS-2 characters'}.",
                    id="phone_verify.E203",
                )
            ]
        return []

    # --- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _result_info(response: ProviderResponse) -> tuple[int | None, str]:
        info = response.payload.get("result_info")
        if not isinstance(info, Mapping):
            return None, ""
        code = info.get("status_code")
        return (code if isinstance(code, int) else None), str(info.get("description") or "")

    def _error(
        self, status_code: int | None, description: str, response: ProviderResponse
    ) -> ProviderError:
        known = CODES.get(status_code) if status_code is not None else None
        if known is None:
            known = FortytwoCode(response.status_code, "Undocumented answer.", "provider_error")
        if known.code == "provider_auth":
            # Every send and check fails until someone fixes the token or its IP list.
            logger.critical(
                "Fortytwo refuses our credentials: %s %s (HTTP %s)",
                status_code,
                description or known.message,
                response.status_code,
            )
        return self.error(
            f"Fortytwo {status_code}: {description or known.message}",
            code=known.code,
            provider_code=str(status_code if status_code is not None else response.status_code),
            status=known.status,
            retryable=known.retryable,
            response=response.payload,
        )


def _address_in(
    address: str | None, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _from_milliseconds(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
