"""Every error answer is ``{"code": "<machine code>", "detail": "<human message>", ...}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from ..exceptions import PhoneVerifyError, StorageUnavailable

logger = logging.getLogger("phone_verify")


def _first_message(detail: Any) -> tuple[str, str]:
    """The (field path, message) of the first error in a DRF error structure."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            path, message = _first_message(value)
            return (f"{field}.{path}" if path else str(field)), message
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return "", str(detail)


def exception_handler(exc: Exception, context: Any) -> Response | None:
    if isinstance(exc, DatabaseError):
        # The transaction rolled back: nothing half-done, and trying again may work.
        logger.exception("API request not completed: database error")
        exc = StorageUnavailable()
    if isinstance(exc, PhoneVerifyError):
        response = Response(exc.as_dict(), status=exc.http_status)
        if getattr(exc, "retry_after", None):  # ResendTooSoon, RateLimited
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        field, message = _first_message(exc.detail)
        body: dict[str, Any] = {
            "code": "invalid_request",
            "detail": f"{field}: {message}" if field and field != "non_field_errors" else message,
            "errors": exc.detail,
        }
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, exceptions.APIException):
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        code = exc.get_codes()
        return Response(
            {
                "code": code if isinstance(code, str) else exc.default_code,
                "detail": str(exc.detail),
            },
            status=exc.status_code,
            headers=headers,
        )
    return None
