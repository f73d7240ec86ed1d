"""What both services' OpenAPI documents declare beyond FastAPI's defaults: the error envelope
for every status an operation can answer, the response headers actually sent, and the two
ways of presenting an API key.

Generated clients and schemathesis read these documents, so they must say exactly what the
servers do (tests/operations/test_openapi.py holds them to it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from dyndash_common.apikeys import presented_in
from dyndash_common.envelope import ErrorEnvelope

API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key",
    scheme_name="ApiKey",
    description="An API key (`ddk_…`) in the X-API-Key header.",
    auto_error=False,
)
BEARER = HTTPBearer(
    scheme_name="Bearer",
    description="The same API key as a bearer token: `Authorization: Bearer ddk_…`.",
    auto_error=False,
)
# Security requirements are alternatives: either scheme is enough.
KEY_REQUIRED: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]


async def presented_key(
    request: Request,
    _api_key: Annotated[str | None, Security(API_KEY_HEADER)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
) -> str | None:
    """The key the client sent, X-API-Key first. The security parameters put the schemes in
    the document (and an Authorize button in /docs); the key is read by the same rule as on
    the gateway's hot path. Whether it is valid is the caller's decision."""
    return presented_in(request.headers.get("x-api-key"), request.headers.get("authorization"))


def header(description: str, pattern: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    return {"description": description, "required": True, "schema": schema}


REQUEST_ID = header(
    "The client's X-Request-ID when it is a plain token, else a generated one; it is in "
    "every log line of the request.",
    r"^[A-Za-z0-9._:\-]{1,128}$",
)
RATE_LIMIT = {
    "RateLimit": header(
        "Requests left in the current window and seconds until it resets (IETF draft).",
        r'^"default";r=[0-9]+;t=[0-9]+$',
    ),
    "RateLimit-Policy": header(
        "Requests allowed per window and the window in seconds (IETF draft).",
        r'^"default";q=[0-9]+;w=[0-9]+$',
    ),
}
RETRY_AFTER = {"Retry-After": header("Seconds to wait before retrying.", r"^[0-9]+$")}

ERROR_DESCRIPTIONS = {
    400: "Malformed If-Match header, or a body that is not UTF-8",
    401: "Missing, invalid, revoked or expired API key",
    403: "The key lacks the needed scope",
    404: "No such resource",
    409: "Conflicts with existing data",
    412: "Stale If-Match",
    413: "Body over the size limit",
    422: "Invalid field (named in the message)",
    429: "Rate limited (see Retry-After)",
    503: "A dependency is unavailable (see Retry-After)",
}
ERROR_HEADERS: dict[int, dict[str, Any]] = {429: {**RETRY_AFTER, **RATE_LIMIT}, 503: RETRY_AFTER}


def event_stream(description: str) -> dict[str, Any]:
    """A Server-Sent Events answer: `itemSchema` describes each event (OpenAPI 3.2's way,
    which FastAPI uses for its own streams); the data is JSON text."""
    event = {
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "data": {"type": "string", "contentMediaType": "application/json"},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }
    return {"description": description, "content": {"text/event-stream": {"itemSchema": event}}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error envelope, with the headers sent alongside, for each of `statuses`."""
    return {
        status: {
            "model": ErrorEnvelope,
            "description": ERROR_DESCRIPTIONS[status],
            "headers": ERROR_HEADERS.get(status, {}),
        }
        for status in sorted(set(statuses))
    }


def without_null(schema: dict[str, Any]) -> None:
    """Turn the `anyOf [T, null]` pydantic writes for `T | None` into `T`, in place."""
    branches = schema.get("anyOf")
    if not branches or {"type": "null"} not in branches:
        return
    kept = [branch for branch in branches if branch != {"type": "null"}]
    del schema["anyOf"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept


def refine_document(app: FastAPI) -> None:
    """What FastAPI cannot be told per route: X-Request-ID on every response (the middleware
    adds it to all of them), and optional parameters that are never null."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            for operations in generate()["paths"].values():
                for operation in operations.values():
                    # An optional parameter may be left out, never sent as null: a query
                    # string or header would carry the text `null`.
                    for parameter in operation.get("parameters", []):
                        without_null(parameter["schema"])
                    for response in operation["responses"].values():
                        response.setdefault("headers", {})["X-Request-ID"] = REQUEST_ID
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
