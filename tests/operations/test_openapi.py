"""The OpenAPI documents of the admin API and the gateway say exactly what the servers do."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dyndash_admin_api.app import create_app as create_admin_app
from dyndash_common.settings import Settings
from dyndash_gateway.app import create_framework_app
from tests.gateway.conftest import Site
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER

ENVELOPE = "#/components/schemas/ErrorEnvelope"


def documents() -> dict[str, dict[str, Any]]:
    settings = Settings(key_pepper=TEST_PEPPER)
    return {
        "admin": create_admin_app(settings).openapi(),
        "gateway": create_framework_app(settings).openapi(),
    }


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_operation_ids_are_readable_and_unique() -> None:
    for name, document in documents().items():
        ids = [operation["operationId"] for _, _, operation in operations(document)]
        assert len(ids) == len(set(ids)), (name, ids)
        for operation_id in ids:
            # `noun_verb`, not FastAPI's `list_templates_api_v1_templates_get`.
            assert re.fullmatch(r"[a-z]+(?:_[a-z]+){1,2}", operation_id), operation_id
            assert "api_v1" not in operation_id, operation_id
    admin_ids = {op["operationId"] for _, _, op in operations(documents()["admin"])}
    assert {
        "templates_list",
        "templates_create",
        "templates_get",
        "templates_update",
        "templates_delete",
    } <= admin_ids


def test_security_schemes_are_declared_and_required_where_checked() -> None:
    for name, document in documents().items():
        schemes = document["components"]["securitySchemes"]
        assert schemes["ApiKey"] == {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": schemes["ApiKey"]["description"],
        }, name
        assert schemes["Bearer"]["type"] == "http"
        assert schemes["Bearer"]["scheme"] == "bearer"
        for method, path, operation in operations(document):
            security = operation.get("security")
            if path in ("/healthz", "/readyz", "/metrics"):
                assert security is None, (name, method, path)
            elif name == "admin":
                # Either scheme, and no anonymous access.
                assert security == [{"ApiKey": []}, {"Bearer": []}], (method, path)
            else:
                # Public dashboards need no key: the empty requirement says so.
                assert security == [{"ApiKey": []}, {"Bearer": []}, {}], (method, path)
            # The key is not also a plain header parameter.
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not names & {"x-api-key", "authorization"}, (method, path)


def test_errors_are_documented_as_the_envelope() -> None:
    for name, document in documents().items():
        schemas = document["components"]["schemas"]
        assert "HTTPValidationError" not in schemas, name
        envelope = schemas["ErrorEnvelope"]
        assert envelope["required"] == ["status", "data", "message", "timestamp"]
        assert envelope["properties"]["status"] == {"type": "string", "const": "error"} | {
            "title": "Status"
        }
        assert schemas["ErrorData"]["required"] == ["code"]
        for method, path, operation in operations(document):
            for status, response in operation["responses"].items():
                if status.startswith("4") or (status == "503" and path != "/readyz"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": ENVELOPE}, (method, path, status)
                # Every answer passes through RequestIdMiddleware.
                assert "X-Request-ID" in response["headers"], (method, path, status)
            if operation.get("parameters") or "requestBody" in operation:
                assert "422" in operation["responses"], (method, path)
        if name == "gateway":
            rate_limited = document["paths"]["/api/v1/data/dashboard/{dashboard_id}"]["get"]
        else:
            rate_limited = document["paths"]["/api/v1/templates"]["post"]
            assert set(rate_limited["responses"]["201"]["headers"]) == {
                "ETag",
                "RateLimit",
                "RateLimit-Policy",
                "X-Request-ID",
            }
            assert "400" in rate_limited["responses"]  # a body that is not UTF-8
        too_many = rate_limited["responses"]["429"]["headers"]
        assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(too_many)
        assert "Retry-After" in rate_limited["responses"]["503"]["headers"]


def test_if_match_route_method_and_scopes_are_constrained() -> None:
    document = documents()["admin"]
    update = document["paths"]["/api/v1/templates/{template_id}"]["put"]
    (if_match,) = [p for p in update["parameters"] if p["name"].lower() == "if-match"]
    pattern = re.compile(if_match["schema"]["pattern"])
    assert if_match["schema"]["type"] == "string"  # not `null`
    for accepted in ('"3"', "*", "3", 'W/"3"'):
        assert pattern.fullmatch(accepted), accepted
    for refused in ("null", "", '"3', '"a"', '"1", "2"', '"1234567890"'):
        assert not pattern.fullmatch(refused), refused

    schemas = document["components"]["schemas"]
    assert schemas["RouteCreate"]["properties"]["method"]["enum"] == ["GET"]
    assert schemas["RouteUpdate"]["properties"]["method"]["enum"] == ["GET"]
    scopes = schemas["KeyCreate"]["properties"]["scopes"]["items"]["enum"]
    assert "admin" in scopes
    assert "data:read" in scopes
    # Patch bodies: null only where it means something (clearing a description).
    update_body = schemas["TemplateUpdate"]["properties"]
    assert update_body["is_active"] == {"type": "boolean", "title": "Is Active"}
    assert {"type": "null"} in update_body["description"]["anyOf"]


@pytest.mark.parametrize(
    ("service", "method", "path", "allow"),
    [
        ("admin", "PATCH", "/api/v1/templates/1", "GET, PUT, DELETE"),
        ("admin", "OPTIONS", "/api/v1/templates", "GET, POST"),
        ("admin", "DELETE", "/api/v1/dashboards/1/widgets", "GET, POST"),
        # A concrete path wins over /{template_id}: this is not a template named "preview".
        ("admin", "PUT", "/api/v1/templates/preview", "POST"),
        ("admin", "GET", "/api/v1/templates/preview", "POST"),
        ("admin", "POST", "/healthz", "GET"),
        ("gateway", "POST", "/api/v1/data/dashboard/1", "GET"),
        ("gateway", "DELETE", "/readyz", "GET"),
    ],
)
async def test_405_allow_lists_every_method_of_the_path(
    site: Site, service: str, method: str, path: str, allow: str
) -> None:
    client = site.admin.client if service == "admin" else site.web
    response = await client.request(method, path, headers={"X-API-Key": ADMIN_SECRET})
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json()["data"]["code"] == "method_not_allowed"
