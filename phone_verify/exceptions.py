"""One error hierarchy. Each error has a machine ``code``, a human ``detail`` and the HTTP status
the API answers with; provider errors add who said what and whether trying again may help.

Configuration mistakes are not here: they are ``ImproperlyConfigured`` or system-check errors.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class PhoneVerifyError(Exception):
    """Base of every error the app raises on purpose."""

    code: str = "error"
    default_detail: Any = _("The request could not be completed.")
    http_status: int = 400
    retryable: bool = False

    def __init__(self, detail: Any = None, *, code: str | None = None, **extra: Any) -> None:
        self.detail = str(detail if detail is not None else self.default_detail)
        if code is not None:
            self.code = code
        self.extra = extra
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}


class InvalidPhoneNumber(PhoneVerifyError, ValueError):
    code = "invalid_phone_number"
    default_detail = _("This is not a valid phone number.")


class InvalidConsents(PhoneVerifyError, ValueError):
    code = "invalid_consents"
    default_detail = _("The consents are not valid.")


class InvalidCodeFormat(PhoneVerifyError, ValueError):
    code = "invalid_code_format"
    default_detail = _("The code does not have the expected format.")


class MalformedRequest(PhoneVerifyError, ValueError):
    """A body or parameter that breaks the input rule of ``inputs``: not UTF-8, not JSON,
    nested too deeply, a NUL or a lone surrogate."""

    code = "malformed_request"
    default_detail = _("The request cannot be read.")


class RequestTooLarge(PhoneVerifyError):
    """A body past ``MAX_BODY_SIZE``, or a callback with more than ``MAX_CALLBACK_REPORTS``."""

    code = "too_large"
    default_detail = _("The request is too large.")
    http_status = 413


class UnsupportedMediaType(PhoneVerifyError):
    """A POST whose Content-Type is not one the endpoint reads (JSON, for the API)."""

    code = "unsupported_media_type"
    default_detail = _("Send the body as JSON (Content-Type: application/json).")
    http_status = 415


class VerificationNotFound(PhoneVerifyError, LookupError):
    code = "not_found"
    default_detail = _("No such verification.")
    http_status = 404


class ResendTooSoon(PhoneVerifyError):
    code = "resend_too_soon"
    default_detail = _("Please wait before asking for a new code.")
    http_status = 429

    def __init__(self, retry_after: int, detail: Any = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class RateLimited(PhoneVerifyError):
    """A rate limit of ``limits`` refused the call; ``retry_after`` seconds until its window
    ends. Said the same way whatever the limit and the subject, so it reveals nothing about a
    number."""

    code = "rate_limited"
    default_detail = _("Too many requests; try again later.")
    http_status = 429

    def __init__(self, limit: str, retry_after: int, detail: Any = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.limit = limit  # for logs and tests; not in the answer
        self.retry_after = retry_after


class SuspectedFraud(PhoneVerifyError):
    """Sends to the number's range are paused by the pumping guard: codes sent there are not
    being used (see ``pumping``). Said the same way for every number of the range."""

    code = "suspected_fraud"
    default_detail = _("We cannot send codes to this number right now; try again later.")
    http_status = 429

    def __init__(self, retry_after: int, detail: Any = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class TooManySends(PhoneVerifyError):
    code = "too_many_sends"
    default_detail = _("No more codes can be sent for this verification; start a new one.")
    http_status = 429


class VerificationClosed(PhoneVerifyError):
    code = "verification_closed"
    default_detail = _("This verification is over; start a new one.")
    http_status = 409  # the request is well formed; the verification's state refuses it


class CallbackRejected(PhoneVerifyError):
    """A provider callback that is not authentic: refused before its body is parsed."""

    code = "forbidden"
    default_detail = _("This callback is not accepted.")
    http_status = 403


class CallbackUnauthenticated(CallbackRejected):
    """A signed callback whose signature is missing or wrong."""

    code = "invalid_signature"
    http_status = 401


class NoCallbacks(CallbackRejected):
    """A callback route for a provider that posts none."""

    code = "not_found"
    default_detail = _("Not found.")
    http_status = 404


class MalformedCallback(PhoneVerifyError, ValueError):
    """An authentic callback whose body cannot be read as the provider documents it."""

    code = "malformed_callback"
    default_detail = _("The callback body is not in the expected format.")


class StorageUnavailable(PhoneVerifyError):
    """The database failed: nothing was stored, the caller should try again (a provider
    retries a callback answered 503)."""

    code = "temporarily_unavailable"
    default_detail = _("The service is temporarily unavailable; try again.")
    http_status = 503


class CountersUnavailable(PhoneVerifyError):
    """The cache holding the rate-limit counters (``RATE_LIMIT_CACHE``) cannot be reached.

    The limits fail closed: nothing is sent, no attempt is spent, and the caller is told to try
    again in ``retry_after`` seconds. Sending without counting would hand SMS pumping and code
    guessing an unlimited budget for as long as the cache is down."""

    code = "service_unavailable"
    default_detail = _("Codes cannot be sent or checked right now; try again in a minute.")
    http_status = 503

    def __init__(self, retry_after: int = 30, detail: Any = None) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class ProviderError(PhoneVerifyError):
    """A provider refused or failed a request.

    ``retryable`` is what the Celery tasks retry on: timeouts, 5xx, 429 and the provider's own
    "internal error" codes. ``status`` is the normalized status the failure ends in when it is not
    retried (or when retries are exhausted).
    """

    code = "provider_error"
    default_detail = _("The SMS provider could not handle the request.")
    http_status = 502

    def __init__(
        self,
        detail: Any = None,
        *,
        provider: str,
        code: str | None = None,
        provider_code: str = "",
        response: Any = None,
        retryable: bool = False,
        status: str = "failed",
    ) -> None:
        super().__init__(detail, code=code or ("provider_unavailable" if retryable else None))
        if retryable:
            self.http_status = 503  # the user may simply try again
        self.provider = provider
        self.provider_code = provider_code
        self.response = response
        self.retryable = retryable
        self.status = status
