"""The provider interface. One module per provider under ``phone_verify.providers``, one class in
each, registered by name in ``registry.py``.

A provider knows one provider's wire format and nothing about views or the ORM: it is handed an
``OutgoingCode`` and answers a ``SendResult``; it is asked to check a code and answers a
``Verdict``; it turns callbacks into ``StatusReport`` values. Services do the rest.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
import requests.adapters
import requests.utils
from django.core.checks import CheckMessage, Error
from django.urls import NoReverseMatch, reverse

from .. import inputs
from ..conf import app_settings, setting_key
from ..exceptions import MalformedCallback, MalformedRequest, NoCallbacks, ProviderError
from ..status import SendResult, StatusReport, Verdict


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
    fallback: bool = False  # sent by a fallback provider after the primary failed

    @property
    def digits(self) -> str:
        """The number without its ``+``."""
        return self.phone_number.lstrip("+")


@dataclass
class InboundCallback:
    """One HTTP request a provider made to our webhook, as providers see it.

    ``body`` reads the request body on first use (within ``MAX_BODY_SIZE``): a provider that
    authenticates by the secret of the callback URL (``secret``) or the source address decides
    without reading it.
    """

    secret: str  # the password of the request's HTTP Basic credentials, "" when it has none
    headers: Mapping[str, str]
    remote_addr: str | None
    method: str
    path: str  # the full path, as a signature may cover it
    read_body: Callable[[], bytes] = field(repr=False, default=bytes)

    @cached_property
    def body(self) -> bytes:
        return self.read_body()

    def json(self) -> Any:
        """The body parsed as JSON under the input rule (``inputs``), or ``MalformedCallback``."""
        try:
            return inputs.decode_json(self.body)
        except MalformedRequest as error:
            raise MalformedCallback() from error


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
    - ``authenticate_callback`` / ``parse_callback``: for a provider that posts delivery
      reports to ``webhooks/<name>/...``; the webhook calls them in that order.
    """

    name: ClassVar[str]
    generates_code: bool = False
    sends_consents: ClassVar[bool] = False
    #: True when delivery status can be asked for (then implement ``poll``); services poll
    #: after each send, with backoff, while the verification is open (``POLL_MAX``).
    polls_status: ClassVar[bool] = False
    #: True when the provider wants to be told a code we generated was entered right (then
    #: implement ``report_completion``).
    reports_completion: bool = False

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

    def poll(self, provider_reference: str) -> StatusReport:
        """The current delivery status of one code (only when ``polls_status``)."""
        raise NotImplementedError(f"{self.name} cannot be polled")

    def report_completion(self, provider_reference: str) -> None:
        """Tell the provider the code was entered right (only when ``reports_completion``)."""
        raise NotImplementedError(f"{self.name} takes no completion report")

    def authenticate_callback(self, callback: InboundCallback) -> None:
        """Raise ``CallbackRejected`` unless ``callback`` surely comes from this provider.

        Runs before anything of the body is parsed. By default a provider takes no callbacks.
        """
        raise NoCallbacks()

    def parse_callback(self, callback: InboundCallback) -> list[StatusReport]:
        """The reports in an authenticated callback; ``MalformedCallback`` if unreadable."""
        raise NotImplementedError

    #: True when the provider signs its callbacks: their URL then carries no secret.
    signs_callbacks: ClassVar[bool] = False
    #: The user name of the HTTP Basic credentials in an unsigned callback URL (not a secret).
    callback_user: ClassVar[str] = "phone_verify"

    def callback_url(self) -> str:
        """The absolute URL to give the provider for callbacks to this app.

        For a provider that does not sign its callbacks, the URL carries the first of
        ``WEBHOOK_SECRETS`` as the password of HTTP Basic credentials
        (``https://phone_verify:<secret>@host/...``, as django-anymail does): the client sends
        it in the Authorization header, which web servers do not log, unlike a path or a query.
        "" when there is no secret to give (or the app's URLs are not mounted).
        """
        try:
            path = reverse("phone_verify_api:webhook", kwargs={"provider": self.name})
        except NoReverseMatch:
            return ""
        base = urlsplit(str(app_settings.PUBLIC_URL).rstrip("/"))
        if self.signs_callbacks:
            return base.geturl() + path
        if not app_settings.WEBHOOK_SECRETS:
            return ""
        secret = quote(str(app_settings.WEBHOOK_SECRETS[0]), safe="")
        return f"{base.scheme}://{self.callback_user}:{secret}@{base.netloc}{base.path}{path}"


@dataclass(frozen=True)
class ProviderRequest:
    """One HTTP request a provider wants made."""

    method: str
    url: str
    data: Mapping[str, Any] | str | None = None  # form-encoded body (a str: already encoded)
    params: Mapping[str, Any] | None = None  # query string
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderResponse:
    """A provider's HTTP answer: status, decoded JSON (None when the body is not JSON), text."""

    status_code: int
    payload: Any
    text: str


class HttpProvider(Provider):
    """A provider reached over HTTP. The template method: ``send`` builds a request
    (``build_send_request``), makes it (``call``) and reads the answer (``parse_send_response``);
    ``check`` does the same with the ``*_check_*`` steps. Subclasses fill the steps.

    ``call`` owns what every HTTP provider shares: one pooled session per provider, the timeouts
    of ``HTTP_TIMEOUT``, and turning network faults, 5xx, 429 and bodies that are not JSON
    into retryable ``ProviderError``s (with the raw answer kept for the timeline).
    """

    #: Whether a 2xx answer must be JSON; a body that is not is a (retryable) provider fault.
    expects_json: ClassVar[bool] = True
    #: Options that must be set (system check ``phone_verify.E101``).
    required_options: ClassVar[tuple[str, ...]] = ("URL",)

    #: Connections kept open to the provider: above the worker threads that call it at once
    #: (docs/celery.md recommends 16), or every call past requests' default of 10 would open
    #: a new one and throw it away.
    pool_size: ClassVar[int] = 32

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=self.pool_size)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # The environment's proxies (HTTPS_PROXY, NO_PROXY...) and CA bundle
        # (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) are read once, here, as httpx reads them when a
        # client is built: requests would read them on every call (3 % of a worker's CPU), and
        # ~/.netrc too, whose credentials would replace a provider's own Authorization header.
        session.trust_env = False
        session.proxies = requests.utils.get_environ_proxies(self.base_url or "https://")
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        session.verify = ca_bundle or True
        self.session = session

    @property
    def base_url(self) -> str:
        return str(self.options.get("URL", "")).rstrip("/")

    def send(self, message: OutgoingCode) -> SendResult:
        return self.parse_send_response(self.call(self.build_send_request(message)), message)

    def check(self, provider_reference: str, phone_number: str, code: str) -> Verdict:
        request = self.build_check_request(provider_reference, phone_number, code)
        return self.parse_check_response(self.call(request))

    def build_send_request(self, message: OutgoingCode) -> ProviderRequest:
        raise NotImplementedError

    def parse_send_response(self, response: ProviderResponse, message: OutgoingCode) -> SendResult:
        raise NotImplementedError

    def build_check_request(
        self, provider_reference: str, phone_number: str, code: str
    ) -> ProviderRequest:
        raise NotImplementedError

    def parse_check_response(self, response: ProviderResponse) -> Verdict:
        raise NotImplementedError

    def option_key(self, option: str) -> str:
        """How a message names one of this provider's options."""
        return f"{setting_key('PROVIDER_OPTIONS')}[{self.name!r}][{option!r}]"

    def check_configuration(self) -> list[CheckMessage]:
        errors: list[CheckMessage] = [
            Error(f"{self.option_key(option)} must be set.", id="phone_verify.E101")
            for option in self.required_options
            if not self.options.get(option)
        ]
        url = urlsplit(self.base_url)
        if self.base_url and (url.scheme not in ("http", "https") or not url.netloc):
            errors.append(
                Error(
                    f"{self.option_key('URL')} must be an absolute http(s) URL, "
                    f"not {self.base_url!r}.",
                    id="phone_verify.E101",
                )
            )
        return errors

    def error(self, detail: str, **kwargs: Any) -> ProviderError:
        return ProviderError(detail, provider=self.name, **kwargs)

    def call(self, request: ProviderRequest) -> ProviderResponse:
        try:
            answer = self.session.request(
                request.method,
                request.url,
                data=request.data,
                params=request.params,
                json=request.json,
                headers=dict(request.headers),
                timeout=app_settings.HTTP_TIMEOUT,
            )
        except requests.Timeout as exc:
            raise self.error(
                f"{self.name} did not answer in time", retryable=True, provider_code="timeout"
            ) from exc
        except requests.RequestException as exc:
            raise self.error(
                f"{self.name} could not be reached: {type(exc).__name__}",
                retryable=True,
                provider_code="connection",
            ) from exc
        try:
            payload = answer.json()
        except ValueError:
            payload = None
        response = ProviderResponse(answer.status_code, payload, answer.text[:2000])
        raw = (
            payload
            if payload is not None
            else {"http_status": answer.status_code, "body": response.text[:500]}
        )
        if answer.status_code >= 500 or answer.status_code == 429:
            raise self.error(
                f"{self.name} answered HTTP {answer.status_code}",
                retryable=True,
                provider_code=f"http_{answer.status_code}",
                response=raw,
            )
        if self.expects_json and not isinstance(payload, dict):
            # A 2xx page that is not JSON is a hiccup (a proxy's maintenance page): retried.
            # A 4xx one means we call the wrong thing (a wrong URL): retrying will not help.
            raise self.error(
                f"{self.name} answered HTTP {answer.status_code} with something that is not "
                "a JSON object",
                retryable=answer.status_code < 400,
                code=None if answer.status_code < 400 else "provider_error",
                provider_code="malformed_answer",
                response=raw,
            )
        return response
