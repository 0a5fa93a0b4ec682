"""Provider callbacks: ``POST webhooks/<provider>/``.

Each step refuses before the next one costs anything:

1. 404 for a provider this site does not send through (``PROVIDER``, ``FALLBACK_PROVIDERS``),
   before the body is read.
2. 401/403 when not authentic. A provider that cannot sign (Fortytwo) is given a callback URL
   with HTTP Basic credentials (``https://phone_verify:<secret>@host/...``, as django-anymail
   does), checked before the body is read; the secret travels in the Authorization header,
   which web servers do not log. A provider that signs (TeleSign) has its signature checked on
   the raw body before it is parsed. An empty or missing key or secret never authenticates.
3. 415 when the body is not JSON, 413 when it is over ``MAX_BODY_SIZE``, 400 when it is
   malformed (``inputs``: nesting, UTF-8, NUL), 413 when it carries more than
   ``MAX_CALLBACK_REPORTS`` reports: the work of one callback is bounded.
4. 200 once stored (reports for unknown messages included, logged), and 503 when the database
   fails: the reports of one callback are stored all or none, so the provider's retry of a 503
   finds nothing half-done, and a replay of what was stored changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import logging

from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.utils.mediatypes import media_type_matches

from . import inputs, services
from .conf import app_settings
from .exceptions import (
    NoCallbacks,
    PhoneVerifyError,
    RequestTooLarge,
    StorageUnavailable,
    UnsupportedMediaType,
)
from .models import DeliveryEvent
from .providers.base import InboundCallback
from .providers.registry import get_provider, providers_in_use

logger = logging.getLogger("phone_verify")


@method_decorator(csrf_exempt, name="dispatch")  # providers cannot send a CSRF token
class WebhookView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, provider: str) -> JsonResponse:
        if provider not in providers_in_use():
            return _error(NoCallbacks())
        receiver = get_provider(provider)
        callback = InboundCallback(
            secret=basic_password(request.headers.get("Authorization", "")),
            headers=request.headers,
            remote_addr=request.META.get("REMOTE_ADDR"),
            method=request.method or "POST",
            path=request.get_full_path(),
            read_body=lambda: inputs.read_body(request),
        )
        try:
            receiver.authenticate_callback(callback)
            if not media_type_matches("application/json", request.content_type or ""):
                raise UnsupportedMediaType()
            reports = receiver.parse_callback(callback)
            if len(reports) > app_settings.MAX_CALLBACK_REPORTS:
                raise RequestTooLarge()
        except PhoneVerifyError as error:
            logger.warning(
                "%s callback refused from %s: %s", provider, callback.remote_addr, error.code
            )
            return _error(error)
        try:
            with transaction.atomic():
                matched = sum(
                    services.apply_report(
                        report, provider=receiver.name, kind=DeliveryEvent.Kind.CALLBACK
                    )
                    is not None
                    for report in reports
                )
        except DatabaseError:
            logger.exception("%s callback not stored: database error", provider)
            return _error(StorageUnavailable())
        return JsonResponse({"received": len(reports), "matched": matched})


def basic_password(authorization: str) -> str:
    """The password of ``Authorization: Basic ...`` credentials; "" for anything else (the
    user name is not a secret and is not checked)."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def _error(error: PhoneVerifyError) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.http_status)


__all__ = ["WebhookView", "basic_password"]
