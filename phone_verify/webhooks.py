"""Provider callbacks: ``POST webhooks/<provider>/<secret>/`` (secret-URL providers such as
Fortytwo) and ``POST webhooks/<provider>/`` (providers that sign their callbacks).

Authentication comes first, before anything of the body is parsed (for a secret URL, before the
body is even read); then the provider parses the reports and ``services.apply_report`` applies
each one. Answers: 200 once stored (reports for unknown messages included, logged), 401/403
when not authentic, 400 when malformed, 404 for a provider without callbacks, and 503 when the
database fails: the reports of one callback are stored all or none, so the provider's retry of a
503 finds nothing half-done (and a replay of what was stored is dropped).
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from . import services
from .exceptions import NoCallbacks, PhoneVerifyError, StorageUnavailable
from .models import DeliveryEvent
from .providers.base import InboundCallback
from .providers.registry import get_provider

logger = logging.getLogger("phone_verify")


@method_decorator(csrf_exempt, name="dispatch")  # providers cannot send a CSRF token
class WebhookView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, provider: str, secret: str = "") -> JsonResponse:
        try:
            receiver = get_provider(provider)
        except ImproperlyConfigured:
            return _error(NoCallbacks())
        callback = InboundCallback(
            secret=secret,
            headers=request.headers,
            remote_addr=request.META.get("REMOTE_ADDR"),
            method=request.method or "POST",
            path=request.get_full_path(),
            read_body=lambda: request.body,
        )
        try:
            receiver.authenticate_callback(callback)
            reports = receiver.parse_callback(callback)
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


def _error(error: PhoneVerifyError) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.http_status)


__all__ = ["WebhookView"]
