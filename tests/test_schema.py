"""The example project serves an OpenAPI schema that describes the contract."""

from __future__ import annotations

import json

from drf_spectacular.validation import validate_schema


def test_openapi_schema_lists_every_endpoint_and_validates(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)  # raises on a schema that breaks the OpenAPI 3 spec
    paths = schema["paths"]
    base = "/api/phone-verify/verifications/"
    assert set(paths) >= {base, base + "{id}/", base + "{id}/check/", base + "{id}/resend/"}
    assert set(paths[base]["post"]["responses"]) >= {"201", "400"}
    assert set(paths[base + "{id}/check/"]["post"]["responses"]) >= {"200", "400", "404", "429"}
    consents = schema["components"]["schemas"]["StartVerification"]["properties"]["consents"]
    assert len(consents["properties"]) == 20 and consents["additionalProperties"] is False


def test_swagger_ui_is_served_without_a_cdn(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn." not in page.content
