"""DQE ID Mobile formfilling: the mobile operator vouches for the holder of a number and hands
over identity data to prefill a form.

Three calls, all on the DQE server of the ``dqe`` options: ``ACCESS_TOKEN`` (licence and client
secret -> a token, cached until shortly before it expires), ``IDMOBILE`` (consent request ->
the operator and the operator URL the browser goes to), ``GET`` (retrieval, polled until it is
not ``pending``). Every DQE error id is in one of the tables below, with what it means to us.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..exceptions import ProviderError
from .base import HttpProvider, ProviderRequest

#: Seconds before its announced expiry a cached access token is no longer used.
TOKEN_MARGIN = 60
FORMFILLING = "formfilling"
SCOPES = ("formfilling", "matching,formfilling")
USER_INFOS_KEYS = (
    "street_address postal_code locality country birthdate email lastname maiden_name gender "
    "firstname phone number"
).split()


@dataclass(frozen=True)
class IdMobileError:
    """What one DQE ID Mobile error id means: our machine code, a message for the user."""

    code: str
    message: Any  # a lazy translation
    retryable: bool = False


PROVIDER_SIDE = {
    "provider_config",
    "provider_auth",
    "provider_account",
    "provider_error",
    "token_expired",
}
_UNAVAILABLE = _("Prefilling from your operator is not available right now.")
_CONFIG = IdMobileError("provider_config", _UNAVAILABLE)
_AUTH = IdMobileError("provider_auth", _UNAVAILABLE)
_EXPIRED = IdMobileError("token_expired", _("The operator's answer came too late; try again."))

#: ACCESS_TOKEN errors.
TOKEN_ERRORS: dict[str, IdMobileError] = {
    "01": _CONFIG,  # invalid request
    "03": _AUTH,  # invalid client secret
    "22": _AUTH,  # unauthorized client (licence)
    "30": _AUTH,  # invalid or expired token
    "31": _CONFIG,  # unsupported grant type
    "98": IdMobileError("provider_account", _UNAVAILABLE),  # credits exhausted
}

#: IDMOBILE (consent request) errors.
CONSENT_ERRORS: dict[str, IdMobileError] = {
    "01": _CONFIG,  # invalid request
    "02": _AUTH,  # invalid licence
    "04": _CONFIG,  # invalid scope
    "05": _CONFIG,  # missing user_infos
    "06": _CONFIG,  # user_infos not valid JSON
    "07": _CONFIG,  # missing "phone" in user_infos (SFR)
    "09": IdMobileError("ineligible_number", _("This number cannot be used to prefill the form.")),
    "10": IdMobileError("invalid_phone_number", _("This number does not exist.")),
    "11": IdMobileError("invalid_phone_number", _("Enter a phone number.")),
    "12": IdMobileError("operator_check_failed", _("Your operator could not check this number.")),
    "13": IdMobileError("operator_not_found", _("Your operator could not be found.")),
    "14": IdMobileError("operator_not_supported", _("Your operator does not offer this.")),
    "15": IdMobileError("operator_not_supported", _("Your operator does not offer this yet.")),
    "16": IdMobileError(
        "operator_unreachable", _("Your operator cannot be reached; try again."), retryable=True
    ),
    "17": IdMobileError("operator_not_supported", _("Your operator does not offer this.")),
    "30": _EXPIRED,
}

#: GET (retrieval) errors.
RETRIEVAL_ERRORS: dict[str, IdMobileError] = {
    "01": _CONFIG,  # invalid request
    "02": _AUTH,  # invalid licence
    "04": _CONFIG,  # invalid scope
    "18": IdMobileError("no_data", _("Your operator sent no data.")),
    "20": IdMobileError("otp_not_completed", _("The code was not confirmed with your operator.")),
    "21": IdMobileError("access_denied", _("You declined to share your details.")),
    "30": _EXPIRED,
    "99": IdMobileError("provider_unavailable", _UNAVAILABLE, retryable=True),
}

#: The formfilling fields kept (the seed's), and those of its address.
FORMFILLING_FIELDS = (
    "phone_number family_name name locale gender updated_at birthdate birthplace given_name "
    "email email_domain email_account subscriber_msisdn sub"
).split()
ADDRESS_FIELDS = "country postal_code formatted street_address number locality".split()


class IdMobileFailure(ProviderError):
    """A DQE ID Mobile error answer, with its error id and type."""

    def __init__(self, error: IdMobileError, error_id: str, error_type: str, answer: Any) -> None:
        super().__init__(
            str(error.message),
            provider="dqe",
            code=error.code,
            provider_code=error_id,
            retryable=error.retryable,
            response=answer,
        )
        # The number's fault: 400. Ours or DQE's: 503, the user fills the form by hand.
        self.http_status = 503 if error.retryable or error.code in PROVIDER_SIDE else 400
        self.extra = {"provider_code": error_id}
        self.error_id = error_id
        self.error_type = error_type


@dataclass(frozen=True)
class Consent:
    operator: str
    url: str
    token_expires_at: dt.datetime


@dataclass(frozen=True)
class Retrieval:
    """A retrieval answer: ``pending``, or ``success`` with the identity ``data``."""

    status: str
    data: dict[str, Any] | None = None


class IdMobile(HttpProvider):
    """Options, in ``PHONE_VERIFY["PROVIDER_OPTIONS"]["dqe"]``: ``URL``, ``LICENCE``,
    ``CLIENT_SECRET``, ``PARTNER_NAME`` (the ``name`` registered at DQE; ``COMPANY`` when
    unset), ``IDMOBILE_SCOPE`` (``formfilling`` or ``matching,formfilling``), ``CODE_NAME``."""

    name = "dqe"
    required_options = ("URL", "LICENCE", "CLIENT_SECRET")

    @property
    def scope(self) -> str:
        return str(self.options.get("IDMOBILE_SCOPE") or FORMFILLING)

    @property
    def configured(self) -> bool:
        return all(self.options.get(option) for option in self.required_options)

    # --- step 0: access token ---------------------------------------------------------------

    def _cache_key(self) -> str:
        licence = hashlib.sha256(str(self.options.get("LICENCE", "")).encode()).hexdigest()[:16]
        return f"phone_verify:dqe_idmobile_token:{licence}"

    def access_token(self) -> tuple[str, dt.datetime]:
        """A token and when it expires; from the cache while it has more than a minute left."""
        cached = cache.get(self._cache_key())
        if cached:
            return cached
        params = {
            "licence": str(self.options.get("LICENCE", "")),
            "client_secret": str(self.options.get("CLIENT_SECRET", "")),
            "grant_type": "client_idmobile",
        }
        answer = self.call(ProviderRequest("POST", f"{self.base_url}/ACCESS_TOKEN/", data=params))
        payload = answer.payload
        token = payload.get("access_token")
        if payload.get("status") == "error" or not isinstance(token, str) or not token:
            raise self._failure(TOKEN_ERRORS, payload)
        try:
            lifetime = int(str(payload.get("expires_in", "300")))
        except ValueError:
            lifetime = 300
        expires_at = timezone.now() + dt.timedelta(seconds=lifetime)
        if lifetime > TOKEN_MARGIN:
            cache.set(self._cache_key(), (token, expires_at), timeout=lifetime - TOKEN_MARGIN)
        return token, expires_at

    def forget_token(self) -> None:
        cache.delete(self._cache_key())

    # --- step 1: consent request ------------------------------------------------------------

    def request_consent(self, phone_number: str, redirect_uri: str) -> Consent:
        """Ask DQE for the operator's consent URL; one retry with a fresh token on error 30."""
        for attempt in (1, 2):
            token, expires_at = self.access_token()
            answer = self.call(
                ProviderRequest(
                    "POST",
                    f"{self.base_url}/IDMOBILE/",
                    data=self._consent_params(phone_number, token, redirect_uri),
                )
            ).payload
            if answer.get("status") == "success" and isinstance(answer.get("url"), str):
                return Consent(str(answer.get("operator") or ""), answer["url"], expires_at)
            if str(answer.get("error_id")) == "30" and attempt == 1:
                self.forget_token()  # DQE dropped it before we thought: get a new one
                continue
            raise self._failure(CONSENT_ERRORS, answer)
        raise AssertionError("unreachable")  # pragma: no cover

    def _consent_params(self, phone_number: str, token: str, redirect_uri: str) -> dict[str, str]:
        digits = phone_number.lstrip("+")
        params = {
            "licence": str(self.options.get("LICENCE", "")),
            "number": digits,
            "token": token,
            "mode": "2",  # authentication by code
            "name": str(self.options.get("PARTNER_NAME") or self.options.get("COMPANY", "")),
            "scope": self.scope,
            "redirect_uri": redirect_uri,
        }
        if code_name := self.options.get("CODE_NAME"):
            params["code_name"] = str(code_name)
        if "matching" in self.scope:
            # Matching needs every key, empty ones included; we only know the number.
            infos = dict.fromkeys(USER_INFOS_KEYS, "") | {"phone": digits, "number": digits}
            params["user_infos"] = json.dumps(infos)
        return params

    # --- step 2: retrieval ------------------------------------------------------------------

    def retrieve(self, session_token: str) -> Retrieval:
        params = {
            "token": session_token,
            "Licence": str(self.options.get("LICENCE", "")),
            "scope": "client_idmobile",
        }
        answer = self.call(ProviderRequest("GET", f"{self.base_url}/GET/", params=params)).payload
        status = answer.get("status")
        if status == "pending":
            return Retrieval("pending")
        if status == "success":
            formfilling = answer.get("formfilling")
            if not isinstance(formfilling, Mapping):
                raise self._failure(RETRIEVAL_ERRORS, {**answer, "error_id": "18"})
            return Retrieval("success", identity_fields(formfilling))
        raise self._failure(RETRIEVAL_ERRORS, answer)

    # --- helpers ----------------------------------------------------------------------------

    def _failure(self, table: Mapping[str, IdMobileError], answer: Mapping[str, Any]) -> Exception:
        error_id = str(answer.get("error_id") or "")
        error = table.get(error_id) or IdMobileError("provider_error", _UNAVAILABLE)
        return IdMobileFailure(error, error_id, str(answer.get("error_type") or ""), answer)


def identity_fields(formfilling: Mapping[str, Any]) -> dict[str, Any]:
    """The documented formfilling fields, as strings; nothing else DQE may add."""
    data: dict[str, Any] = {
        key: str(formfilling.get(key) or "") for key in FORMFILLING_FIELDS if key in formfilling
    }
    address = formfilling.get("address")
    if isinstance(address, Mapping):
        data["address"] = {key: str(address.get(key) or "") for key in ADDRESS_FIELDS}
    return data
