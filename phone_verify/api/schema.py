"""The OpenAPI description of the API: drf-spectacular's, plus what a serializer cannot say.

- Errors every operation may answer, in our shape: 400 and 415 (malformed, wrong content type)
  and 413 (too large) on each POST, 404 on each read of one resource, 429 and 503 on all (with
  ``Retry-After`` when the wait is known).
- Every POST body is required and is an object without unknown fields: the API reads JSON
  only, so even a bodiless action (resend) is posted as ``{}`` with ``Content-Type:
  application/json``, which a cross-site form cannot do.
- Links from each answer to the operations it enables (create -> check -> resend -> read), so
  that a client, or a stateful fuzzer, can chain them.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

from .serializers import ErrorSerializer, RequestSerializer

ERROR_DESCRIPTIONS = {
    "400": "invalid_request, malformed_request (not UTF-8, not JSON, too deep, NUL)",
    "404": "not_found",
    "413": "too_large: the body is over MAX_BODY_SIZE",
    "415": "unsupported_media_type: send JSON",
    "429": "rate_limited (and the operation's own limits)",
    "503": "temporarily_unavailable: try again",
}
POST_ERRORS = ("400", "413", "415", "429", "503")
READ_ERRORS = ("404", "429", "503")
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again, when known",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def link_to(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to ``operation_id``, its ``parameters`` taken from the answer."""
    return {"operationId": operation_id, "parameters": parameters}


class PhoneVerifySchema(AutoSchema):
    """The schema of the app's views. A view lists its links by answer status in
    ``schema_links``: ``{"201": {"CheckCode": link_to("check_code", id="$response.body#/id")}}``."""

    def get_auth(self) -> list[dict[str, Any]]:
        # Open to anyone: no security requirement, so API docs (Swagger UI) show no lock. The
        # session cookie only binds a verification to the browser that started it.
        return []

    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, RequestSerializer):
            schema["additionalProperties"] = False  # RequestSerializer refuses unknown fields
        return schema

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        error = self._get_response_for_code(ErrorSerializer, "400")
        for status in POST_ERRORS if self.method == "POST" else READ_ERRORS:
            if status not in responses:
                responses[status] = {**error, "description": ERROR_DESCRIPTIONS[status]}
        for status in ("429", "503"):
            responses[status]["headers"] = {**responses[status].get("headers", {}), **RETRY_AFTER}
        if "requestBody" in operation:
            operation["requestBody"]["required"] = True
        for status, links in getattr(self.view, "schema_links", {}).items():
            responses[status]["links"] = links
        return operation
