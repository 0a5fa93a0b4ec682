"""TeleSign SMS Verify: ``POST /v1/verify/sms`` sends a code, ``GET /v1/verify/{reference_id}``
tells its delivery status (and checks a code given as ``verify_code``), signed callbacks report
delivery, ``PUT /v1/verify/completion/{reference_id}`` records a success when we made the code.

Two code modes (``CODE_MODE``): ``telesign`` (default), TeleSign generates the code and checks
it; ``local``, we generate it, send it as ``verify_code``, check our hash, and report the
completion. Two ways to authenticate (``AUTH``): ``tsa`` (default: TeleSign's HMAC-SHA256
signature, the key never travels) or ``basic``. Outcomes are decided on ``status.code`` and
``errors[].code`` of the answer, never on its HTTP status, as TeleSign asks.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode

from django.core.checks import CheckMessage, Error

from ..conf import app_settings
from ..exceptions import CallbackUnauthenticated, MalformedCallback, ProviderError
from ..sms import fits_one_sms, sms_length, with_webotp
from ..status import SendResult, Status, StatusReport, Verdict
from .base import HttpProvider, InboundCallback, OutgoingCode, ProviderRequest, ProviderResponse

logger = logging.getLogger("phone_verify")

CODE_PLACEHOLDER = "$$CODE$$"
FORM = "application/x-www-form-urlencoded"
UCIDS = (
    "ATCK BACF BACS CHBK CLDR LEAD OTHR PWRT RESV RXPF SHIP THEF TRVF UNKN".split()
)  # use-case codes TeleSign accepts
LOCAL_CODE_LENGTHS = (3, 7)  # verify_code: 000 to 9999999
SENDER_ID_MAX = 20


@dataclass(frozen=True)
class TeleSignStatus:
    """What one ``status.code`` means to us."""

    status: Status | None  # None: no change
    description: str
    retryable: bool = False  # on a send: try again later
    reason: str = ""  # when the code says more than the status: a refusal of the number


_S, _U, _R = Status.SENT, Status.UNDELIVERABLE, Status.REJECTED
#: ``status.code`` of send answers, polls and callbacks -> our status.
STATUS_CODES: dict[int, TeleSignStatus] = {
    290: TeleSignStatus(Status.PENDING, "Message in progress"),
    203: TeleSignStatus(_S, "Delivered to gateway"),
    292: TeleSignStatus(_S, "Queued by gateway"),
    295: TeleSignStatus(_S, "Status delayed"),
    250: TeleSignStatus(_S, "Final status unknown"),
    251: TeleSignStatus(_S, "Sent, no handset receipt within 12 h"),
    200: TeleSignStatus(Status.DELIVERED, "Delivered to handset"),
    201: TeleSignStatus(Status.DELIVERED, "Completed, suspicious activity"),
    207: TeleSignStatus(_U, "Delivery error, unknown reason"),
    210: TeleSignStatus(_U, "Temporary phone error"),
    211: TeleSignStatus(_U, "Permanent phone error"),
    220: TeleSignStatus(_U, "Cannot route"),
    221: TeleSignStatus(Status.EXPIRED, "Message expired before delivery"),
    222: TeleSignStatus(_U, "SMS not supported", reason="not_mobile"),
    229: TeleSignStatus(_R, "Blocked by your request or blocklist"),
    230: TeleSignStatus(_R, "Blocked by TeleSign's global blocklist"),
    231: TeleSignStatus(_R, "Invalid or unsupported content"),
    233: TeleSignStatus(_R, "Blocked: high risk score"),
    237: TeleSignStatus(_R, "Blocked in the requested country"),
    238: TeleSignStatus(_R, "Destination blocked by prefix"),
    500: TeleSignStatus(Status.FAILED, "Transaction not attempted"),
    501: TeleSignStatus(Status.FAILED, "Not authorised"),
    502: TeleSignStatus(_R, "Campaign or short-code error"),
    503: TeleSignStatus(_R, "Carrier rejected, temporary", retryable=True),
    504: TeleSignStatus(_R, "Carrier rejected, permanent"),
    505: TeleSignStatus(_R, "Gateway error, temporary", retryable=True),
    506: TeleSignStatus(_R, "Gateway error, permanent"),
    507: TeleSignStatus(_U, "Invalid destination", reason="invalid_phone_number"),
    508: TeleSignStatus(_R, "Invalid source address"),
    509: TeleSignStatus(_R, "Parameters problem"),
    510: TeleSignStatus(_U, "Blocked by subscriber"),
    511: TeleSignStatus(_U, "Subscriber low on credit"),
    512: TeleSignStatus(_U, "Roaming error"),
    513: TeleSignStatus(_U, "Number portability error"),
    514: TeleSignStatus(_U, "Subscriber absent"),
    515: TeleSignStatus(_R, "Suspected spam"),
    517: TeleSignStatus(_R, "India DLT details not supported"),
    518: TeleSignStatus(_R, "Blocked: SIM swap risk"),
    519: TeleSignStatus(_R, "SIM swap check impossible"),
    520: TeleSignStatus(_R, "Content not allowed"),
    521: TeleSignStatus(_R, "Sender ID not allowed for destination"),
    599: TeleSignStatus(None, "Status not available"),
}


@dataclass(frozen=True)
class TeleSignError:
    """What one ``errors[].code`` means to us."""

    code: str  # our machine code (the verification's reason)
    status: Status = Status.FAILED
    retryable: bool = False


_AUTH = TeleSignError("provider_auth")
#: ``errors[].code`` -> our outcome. -10001 names its parameter: see ``_error_for``.
ERRORS: dict[int, TeleSignError] = {
    -10001: TeleSignError("provider_config"),
    -10004: TeleSignError("expired", Status.EXPIRED),  # reference id expired
    -10009: _AUTH,  # source IP not allowed
    -10030: TeleSignError("provider_account"),  # insufficient prepaid funds
    -10033: TeleSignError("number_not_allowed", Status.REJECTED),  # trial: unverified number
    -20002: TeleSignError("provider_config"),  # product not enabled
    -30013: TeleSignError("unknown_reference"),
    -40006: TeleSignError("provider_config"),  # bad request
    -40007: TeleSignError("provider_unavailable", retryable=True),  # rate limited
    -40008: TeleSignError("provider_quota"),  # hard cap reached
    -90001: TeleSignError("provider_unavailable", retryable=True),
    # -30000 ... -30015: customer id, Authorization header, signature, date, nonce, key
    **{code: _AUTH for code in range(-30015, -29999) if code != -30013},
}

#: ``verify.code_state`` of a check -> verdict; the others are errors (see ``check``).
CODE_STATES: dict[str, Verdict] = {
    "VALID": Verdict.VALID,
    "INVALID": Verdict.INVALID,
    "EXPIRED": Verdict.EXPIRED,
    "MAX_ATTEMPTS_EXCEEDED": Verdict.LOCKED,  # TeleSign's own limit came before ours
}


def string_to_sign(
    method: str, resource: str, *, content_type: str, body: str, nonce: str, date: str
) -> str:
    """TeleSign's canonical request, as its official SDKs build it (python_telesign's
    ``RestClient.generate_telesign_headers``, Node's ``generateTeleSignHeaders``): method,
    content type, the ``Date`` header, the x-ts headers, the body (only when there is a content
    type and a body), the resource path without the host or query string."""
    lines = [method, content_type, date, "x-ts-auth-method:HMAC-SHA256", f"x-ts-nonce:{nonce}"]
    if content_type and body:
        lines.append(body)
    lines.append(resource)
    return "\n".join(lines)


def signature(api_key: str, message: str | bytes) -> str:
    """base64(HMAC-SHA256(base64decode(api_key), message)): requests and callbacks alike."""
    data = message.encode() if isinstance(message, str) else message
    return base64.b64encode(
        hmac.new(base64.b64decode(api_key), data, hashlib.sha256).digest()
    ).decode()


def tsa_headers(
    customer_id: str,
    api_key: str,
    method: str,
    resource: str,
    *,
    content_type: str,
    body: str,
    nonce: str,
    date: str,
) -> dict[str, str]:
    """The headers of a request signed with TeleSign's TSA scheme, dated with ``Date`` as the
    official SDKs date every request TeleSign's servers see. (TeleSign also documents an
    ``x-ts-date`` header in place of it, which no current SDK sends: we do not either.)"""
    to_sign = string_to_sign(
        method, resource, content_type=content_type, body=body, nonce=nonce, date=date
    )
    headers = {
        "Authorization": f"TSA {customer_id}:{signature(api_key, to_sign)}",
        "Date": date,
        "x-ts-auth-method": "HMAC-SHA256",
        "x-ts-nonce": nonce,
    }
    if content_type:
        headers["Content-Type"] = content_type
    return headers


class TeleSignProvider(HttpProvider):
    """Options (``PHONE_VERIFY["PROVIDER_OPTIONS"]["telesign"]``): ``URL``, ``CUSTOMER_ID``,
    ``API_KEY`` (base64, as TeleSign issues it), ``AUTH`` (``tsa`` or ``basic``), ``CODE_MODE``
    (``telesign`` or ``local``), ``TEMPLATE`` (with ``$$CODE$$``; else TeleSign's own template
    in ``LANGUAGE`` or the request's language), ``SENDER_ID``, ``UCID`` (use case, ``BACF``)."""

    name = "telesign"
    polls_status = True
    signs_callbacks = True
    required_options = ("URL", "CUSTOMER_ID", "API_KEY")

    @property
    def code_mode(self) -> str:
        return str(self.options.get("CODE_MODE") or "telesign")

    @property  # type: ignore[override]
    def generates_code(self) -> bool:
        return self.code_mode != "local"

    @property  # type: ignore[override]
    def reports_completion(self) -> bool:
        return self.code_mode == "local"

    @property
    def code_pattern(self) -> re.Pattern[str]:
        if self.generates_code:
            return re.compile(r"[0-9]{3,7}")  # TeleSign's codes: 7 digits unless set otherwise
        return super().code_pattern

    @property
    def auth(self) -> str:
        return str(self.options.get("AUTH") or "tsa").lower()

    # --- requests ---------------------------------------------------------------------------

    def signed(
        self, method: str, path: str, form: Mapping[str, str] | None = None, query: str = ""
    ) -> ProviderRequest:
        """A request to ``path`` with its authentication headers (a fresh date and nonce)."""
        body = urlencode(form) if form else ""
        content_type = FORM if method in ("POST", "PUT") else ""
        customer_id = str(self.options.get("CUSTOMER_ID", ""))
        api_key = str(self.options.get("API_KEY", ""))
        if self.auth == "basic":
            token = base64.b64encode(f"{customer_id}:{api_key}".encode()).decode()
            headers = {"Authorization": f"Basic {token}"}
            if content_type:
                headers["Content-Type"] = content_type
        else:
            headers = tsa_headers(
                customer_id,
                api_key,
                method,
                path,
                content_type=content_type,
                body=body,
                nonce=str(uuid.uuid4()),
                date=formatdate(usegmt=True),
            )
        url = self.base_url + path + (f"?{query}" if query else "")
        return ProviderRequest(method, url, data=body or None, headers=headers)

    @staticmethod
    def template_text(template: str, code: str | None) -> str:
        """``TEMPLATE`` as sent: with the WebOTP line when the code is ours (``local`` code
        mode), written there by us; TeleSign's own codes it alone puts in ``$$CODE$$``."""
        return with_webotp(template, code) if code is not None else template

    def build_send_request(self, message: OutgoingCode) -> ProviderRequest:
        form = {
            "phone_number": message.digits,
            "ucid": str(self.options.get("UCID") or "BACF"),
        }
        if template := self.options.get("TEMPLATE"):
            form["template"] = self.template_text(str(template), message.code)
        elif language := self.options.get("LANGUAGE") or message.language:
            form["language"] = str(language)  # TeleSign ignores it when a template is given
        if sender_id := self.options.get("SENDER_ID"):
            form["sender_id"] = str(sender_id)
        if message.ip:
            form["originating_ip"] = message.ip
        if callback_url := self.callback_url():
            form["callback_url"] = callback_url
        if message.code is not None:
            form["verify_code"] = message.code
        if message.fallback:
            form["is_primary"] = "false"  # TeleSign's statistics keep fallback traffic apart
        return self.signed("POST", "/v1/verify/sms", form)

    def parse_send_response(self, response: ProviderResponse, message: OutgoingCode) -> SendResult:
        answer = response.payload
        self._raise_for_errors(answer)
        code, known = self._status(answer)
        if known.retryable:
            raise self.error(
                f"TeleSign {code}: {known.description}",
                retryable=True,
                provider_code=str(code),
                response=answer,
            )
        if known.status is Status.FAILED:
            raise self.error(
                f"TeleSign {code}: {known.description}",
                code="provider_error",
                provider_code=str(code),
                response=answer,
            )
        reference = answer.get("reference_id")
        if not isinstance(reference, str) or not reference:
            raise self.error("TeleSign answered without a reference_id", response=answer)
        return SendResult(
            status=known.status or Status.PENDING,
            provider_reference=reference,
            provider_status=str(code),
            occurred_at=_parse_time(answer),
            raw=answer,
            reason=known.reason,
        )

    def build_check_request(
        self, provider_reference: str, phone_number: str, code: str
    ) -> ProviderRequest:
        path = f"/v1/verify/{quote(provider_reference, safe='')}"
        return self.signed("GET", path, query=urlencode({"verify_code": code}))

    def parse_check_response(self, response: ProviderResponse) -> Verdict:
        answer = response.payload
        try:
            self._raise_for_errors(answer)
        except ProviderError as error:
            if error.status == Status.EXPIRED:
                return Verdict.EXPIRED
            raise
        verify = answer.get("verify")
        state = str(verify.get("code_state") if isinstance(verify, Mapping) else "")
        if state in CODE_STATES:
            return CODE_STATES[state]
        # UNKNOWN: the code was not evaluated; nothing to conclude, the user may try again
        raise self.error(
            f"TeleSign did not evaluate the code ({state or 'no code_state'})",
            retryable=True,
            provider_code=state,
            response=answer,
        )

    def poll(self, provider_reference: str) -> StatusReport:
        path = f"/v1/verify/{quote(provider_reference, safe='')}"
        answer = self.call(self.signed("GET", path)).payload
        self._raise_for_errors(answer)
        return self._report(answer, provider_reference)

    def report_completion(self, provider_reference: str) -> None:
        path = f"/v1/verify/completion/{quote(provider_reference, safe='')}"
        answer = self.call(self.signed("PUT", path)).payload
        self._raise_for_errors(answer)

    # --- callbacks --------------------------------------------------------------------------

    def authenticate_callback(self, callback: InboundCallback) -> None:
        """The raw body must be signed with our API key; checked before anything is parsed.

        Every form TeleSign documents is accepted, in ``Authorization`` or
        ``X-TS-Authorization``: ``TSA <customer id>:<signature>`` (the scheme in any case; the
        customer id, when given, must be ours) or the bare signature (what python_telesign's
        ``verify_telesign_callback_signature`` compares the header with).
        """
        api_key = str(self.options.get("API_KEY") or "")
        if not api_key:
            # Without a key, anyone can sign: an HMAC with an empty key proves nothing.
            raise CallbackUnauthenticated()
        try:
            expected = signature(api_key, callback.body)
        except (binascii.Error, ValueError):  # a key that is not base64 (system check E301)
            raise CallbackUnauthenticated() from None
        customer_id = str(self.options.get("CUSTOMER_ID", ""))
        claims = [
            _claimed_signature(callback.headers.get(header, ""), customer_id)
            for header in CALLBACK_HEADERS
        ]
        # Every header is compared (no early exit), each in constant time.
        matches = [hmac.compare_digest(claim.encode(), expected.encode()) for claim in claims]
        if not any(matches):
            raise CallbackUnauthenticated()

    def parse_callback(self, callback: InboundCallback) -> list[StatusReport]:
        answer = callback.json()
        if not isinstance(answer, Mapping):
            raise MalformedCallback()
        reference = answer.get("reference_id")
        status = answer.get("status")
        if not isinstance(reference, str) or not reference or not isinstance(status, Mapping):
            raise MalformedCallback()
        if not isinstance(status.get("code"), int):
            raise MalformedCallback()
        return [self._report(answer, reference)]

    # --- configuration ----------------------------------------------------------------------

    def check_configuration(self) -> list[CheckMessage]:
        errors = super().check_configuration()
        key = self.options.get("API_KEY")
        if key:
            try:
                base64.b64decode(str(key), validate=True)
            except (binascii.Error, ValueError):
                errors.append(
                    Error(
                        f"{self.option_key('API_KEY')} must be the base64 key TeleSign issued.",
                        id="phone_verify.E301",
                    )
                )
        template = self.options.get("TEMPLATE")
        if template is not None:
            code = None if self.generates_code else "0" * app_settings.CODE_LENGTH
            text = self.template_text(str(template), code).replace(CODE_PLACEHOLDER, "0" * 7)
            if CODE_PLACEHOLDER not in str(template) or not fits_one_sms(text):
                units, limit = sms_length(text)
                errors.append(
                    Error(
                        f"{self.option_key('TEMPLATE')} must contain {CODE_PLACEHOLDER} and fit "
                        f"one SMS with a 7-digit code ({units} of {limit}).",
                        id="phone_verify.E302",
                    )
                )
        for option, allowed in (("AUTH", ("tsa", "basic")), ("CODE_MODE", ("telesign", "local"))):
            value = self.options.get(option)
            if value is not None and str(value).lower() not in allowed:
                errors.append(
                    Error(
                        f"{self.option_key(option)} must be one of {', '.join(allowed)}, "
                        f"not {value!r}.",
                        id="phone_verify.E303",
                    )
                )
        low, high = LOCAL_CODE_LENGTHS
        if self.code_mode == "local" and not low <= app_settings.CODE_LENGTH <= high:
            errors.append(
                Error(
                    f"PHONE_VERIFY['CODE_LENGTH'] must be from {low} to {high} with TeleSign "
                    f"in local code mode, not {app_settings.CODE_LENGTH}.",
                    id="phone_verify.E304",
                )
            )
        ucid = self.options.get("UCID")
        if ucid is not None and ucid not in UCIDS:
            errors.append(
                Error(
                    f"{self.option_key('UCID')} must be one of {', '.join(UCIDS)}.",
                    id="phone_verify.E305",
                )
            )
        sender_id = self.options.get("SENDER_ID")
        if sender_id is not None and len(str(sender_id)) > SENDER_ID_MAX:
            errors.append(
                Error(
                    f"{self.option_key('SENDER_ID')} is at most {SENDER_ID_MAX} characters.",
                    id="phone_verify.E306",
                )
            )
        return errors

    # --- helpers ----------------------------------------------------------------------------

    def _status(self, answer: Mapping[str, Any]) -> tuple[int | None, TeleSignStatus]:
        status = answer.get("status")
        code = status.get("code") if isinstance(status, Mapping) else None
        known = STATUS_CODES.get(code) if isinstance(code, int) else None
        if known is None:
            logger.warning("TeleSign status %r is not in our table: no change", code)
            known = TeleSignStatus(None, "Undocumented status")
        if code == 201:
            logger.warning("TeleSign flags suspicious activity on %s", answer.get("reference_id"))
        return code, known

    def _report(self, answer: Mapping[str, Any], reference: str) -> StatusReport:
        code, known = self._status(answer)
        status, reason = known.status, known.reason
        if status is Status.FAILED:
            # errors[] says why (-10030: the prepaid account is empty): a reason an operator
            # can act on, where "500" is not.
            try:
                self._raise_for_errors(answer)
            except ProviderError as error:
                status, reason = Status(error.status), error.code
        details = answer.get("additional_info")
        return StatusReport(
            provider_reference=reference,
            status=status,
            provider_status=str(code),
            occurred_at=_parse_time(answer),
            raw=dict(answer),
            extra=dict(details) if isinstance(details, Mapping) else {},
            reason=reason,
        )

    def _raise_for_errors(self, answer: Mapping[str, Any]) -> None:
        errors = answer.get("errors")
        if not isinstance(errors, list) or not errors:
            return
        first = errors[0] if isinstance(errors[0], Mapping) else {}
        code = first.get("code")
        description = str(first.get("description") or "")
        known = ERRORS.get(code) if isinstance(code, int) else None
        if code == -10001 and "phone_number" in description:
            known = TeleSignError("invalid_phone_number", Status.REJECTED)
        known = known or TeleSignError("provider_error")
        if known.code == "provider_auth":
            logger.critical("TeleSign refuses our credentials: %s %s", code, description)
        raise self.error(
            f"TeleSign {code}: {description}",
            code=known.code,
            provider_code=str(code),
            status=known.status,
            retryable=known.retryable,
            response=dict(answer),
        )


CALLBACK_HEADERS = ("Authorization", "X-TS-Authorization")
_TSA = re.compile(r"tsa\s+(?P<customer>[^:]*):(?P<signature>\S+)", re.IGNORECASE)


def _claimed_signature(value: str, customer_id: str) -> str:
    """The signature one header claims: from ``TSA <customer id>:<signature>`` (any case of the
    scheme; "" if the customer id is not ours), or the bare value; "" when there is none."""
    value = value.strip()
    match = _TSA.fullmatch(value)
    if match is None:
        return "" if " " in value else value
    if not hmac.compare_digest(match["customer"].encode(), customer_id.encode()):
        return ""
    return match["signature"]


def _parse_time(answer: Mapping[str, Any]) -> dt.datetime | None:
    status = answer.get("status")
    value = status.get("updated_on") if isinstance(status, Mapping) else None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


__all__ = ["TeleSignProvider", "signature", "string_to_sign", "tsa_headers"]
