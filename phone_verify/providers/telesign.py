"""TeleSign SMS Verify: ``POST /v1/verify/sms`` sends a code, ``GET /v1/verify/{reference_id}``
tells its delivery status (and checks a code given as ``verify_code``), signed callbacks report
delivery, ``PUT /v1/verify/completion/{reference_id}`` records a success when we made the code.

Two code modes (``CODE_MODE``): ``telesign`` (default), TeleSign generates the code and checks
it; ``local``, we generate it, send it as ``verify_code``, check our hash, and report the
completion. Two ways to authenticate (``AUTH``): ``tsa`` (default: TeleSign's HMAC-SHA256
signature, the key never travels) or ``basic``. Outcomes are decided on ``status.code`` and
``errors[].code`` of the answer, never on its HTTP status, as TeleSign asks.

The signing of requests and the check of callbacks are in ``telesign_auth``; what TeleSign's
codes mean to us, as data, in ``telesign_codes``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, urlencode

from django.core.checks import CheckMessage, Error

from ..conf import app_settings, setting_key
from ..exceptions import CallbackUnauthenticated, MalformedCallback, ProviderError
from ..sms import fits_one_sms, sms_length, with_webotp
from ..status import SendResult, Status, StatusReport, Verdict
from .base import HttpProvider, InboundCallback, OutgoingCode, ProviderRequest, ProviderResponse
from .telesign_auth import (
    basic_headers,
    callback_is_signed,
    signature,
    string_to_sign,
    tsa_headers,
)
from .telesign_codes import CODE_STATES, ERRORS, STATUS_CODES, TeleSignError, TeleSignStatus

logger = logging.getLogger("phone_verify")

CODE_PLACEHOLDER = "$$CODE$$"
FORM = "application/x-www-form-urlencoded"
UCIDS = (
    "ATCK BACF BACS CHBK CLDR LEAD OTHR PWRT RESV RXPF SHIP THEF TRVF UNKN".split()
)  # use-case codes TeleSign accepts
LOCAL_CODE_LENGTHS = (3, 7)  # verify_code: 000 to 9999999
SENDER_ID_MAX = 20


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
            headers = basic_headers(customer_id, api_key, content_type=content_type)
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
        """The raw body must be signed with our API key (see ``telesign_auth``); checked before
        anything is parsed."""
        if not callback_is_signed(
            callback,
            customer_id=str(self.options.get("CUSTOMER_ID", "")),
            api_key=str(self.options.get("API_KEY") or ""),
        ):
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
                    f"{setting_key('CODE_LENGTH')} must be from {low} to {high} with TeleSign "
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
        # A failure's errors[] says why (-10030: the prepaid account is empty): a reason an
        # operator can act on, where "500" is not.
        found = _error_of(answer) if status is Status.FAILED else None
        if found is not None:
            status, reason = found[0].status, found[0].code
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
        found = _error_of(answer)
        if found is None:
            return
        known, code, description = found
        raise self.error(
            f"TeleSign {code}: {description}",
            code=known.code,
            provider_code=str(code),
            status=known.status,
            retryable=known.retryable,
            response=dict(answer),
        )


def _error_of(answer: Mapping[str, Any]) -> tuple[TeleSignError, Any, str] | None:
    """What the first of an answer's ``errors[]`` means to us, with its code and description;
    None when there is none. Our credentials refused is logged (critical) here."""
    errors = answer.get("errors")
    if not isinstance(errors, list) or not errors:
        return None
    first = errors[0] if isinstance(errors[0], Mapping) else {}
    code = first.get("code")
    description = str(first.get("description") or "")
    known = ERRORS.get(code) if isinstance(code, int) else None
    if code == -10001 and "phone_number" in description:
        known = TeleSignError("invalid_phone_number", Status.REJECTED)
    known = known or TeleSignError("provider_error")
    if known.code == "provider_auth":
        logger.critical("TeleSign refuses our credentials: %s %s", code, description)
    return known, code, description


def _parse_time(answer: Mapping[str, Any]) -> dt.datetime | None:
    status = answer.get("status")
    value = status.get("updated_on") if isinstance(status, Mapping) else None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


__all__ = ["TeleSignProvider", "signature", "string_to_sign", "tsa_headers"]
