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
    assert set(paths[base]["post"]["responses"]) >= {"201", "400", "429", "503"}
    check = paths[base + "{id}/check/"]["post"]["responses"]
    assert set(check) >= {"200", "400", "404", "429", "503"}
    assert set(paths[base + "{id}/resend/"]["post"]["responses"]) >= {"202", "429", "503"}
    consents = schema["components"]["schemas"]["StartVerification"]["properties"]["consents"]
    assert len(consents["properties"]) == 20 and consents["additionalProperties"] is False


def test_swagger_ui_is_served_without_a_cdn(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn." not in page.content


def schema_of(client) -> dict:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    return json.loads(response.content)


def test_links_chain_create_check_resend_and_read(client, db):
    paths = schema_of(client)["paths"]
    base = "/api/phone-verify/verifications/"
    created = paths[base]["post"]["responses"]["201"]["links"]
    wrong_code = paths[base + "{id}/check/"]["post"]["responses"]["400"]["links"]
    resent = paths[base + "{id}/resend/"]["post"]["responses"]["202"]["links"]

    targets = {link["operationId"] for link in created.values()}
    assert targets == {"get_verification", "check_code", "resend_code"}
    assert all(link["parameters"] == {"id": "$response.body#/id"} for link in created.values())
    assert wrong_code["ResendCode"]["parameters"] == {"id": "$request.path.id"}
    assert {link["operationId"] for link in resent.values()} >= {"get_verification"}


def test_every_operation_documents_the_errors_it_may_answer(client, db):
    for path, operations in schema_of(client)["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            expected = {"400", "413", "415", "429", "503"} if method == "post" else {"429", "503"}
            assert set(responses) >= expected, (method, path)
            for status in ("429", "503"):
                assert "Retry-After" in responses[status]["headers"], (method, path, status)
            if method == "post":
                body = operation["requestBody"]
                assert body["required"] is True and list(body["content"]) == ["application/json"]


def test_no_lock_on_endpoints_that_need_no_authentication(client, db):
    schema = schema_of(client)
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/phone-verify/")
        for method, operation in item.items()
    ]
    assert len(operations) >= 6
    # Swagger UI draws a lock for any "security" entry, even the optional {}.
    assert [(path, method) for path, method, op in operations if "security" in op] == []
    assert "securitySchemes" not in schema.get("components", {})
