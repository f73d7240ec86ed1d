"""The one exception hierarchy of dyndash; handlers map it to HTTP at the edge.

DyndashError
├── BadRequest            400  malformed request outside the body schema
├── Unauthorized          401  missing, invalid, revoked or expired API key
├── Forbidden             403  valid key without the needed scope
├── NotFound              404  unknown id
├── Conflict              409  duplicate name/path, entity still in use
├── PreconditionFailed    412  stale If-Match
├── PayloadTooLarge       413  body over the size limit
├── ValidationFailed      422  a field's value is wrong (names the field)
│   └── TemplateInvalid   422  template syntax error or unknown reference (with line)
├── RateLimited           429  over the rate limit (carries Retry-After)
├── RenderFailed          422  preview render failed or ran over its budget
└── Unavailable           503  a dependency is down (carries Retry-After)
"""

from __future__ import annotations

from typing import Any


class DyndashError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequest(DyndashError):
    status_code = 400
    code = "bad_request"


class Unauthorized(DyndashError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DyndashError):
    status_code = 403
    code = "forbidden"


class NotFound(DyndashError):
    status_code = 404
    code = "not_found"


class Conflict(DyndashError):
    status_code = 409
    code = "conflict"


class PreconditionFailed(DyndashError):
    status_code = 412
    code = "precondition_failed"


class PayloadTooLarge(DyndashError):
    status_code = 413
    code = "payload_too_large"


class ValidationFailed(DyndashError):
    status_code = 422
    code = "validation_error"


class TemplateInvalid(ValidationFailed):
    code = "template_invalid"


class RateLimited(DyndashError):
    status_code = 429
    code = "rate_limited"


class RenderFailed(DyndashError):
    status_code = 422
    code = "render_failed"


class Unavailable(DyndashError):
    status_code = 503
    code = "unavailable"
