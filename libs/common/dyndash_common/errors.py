"""The one exception hierarchy of dyndash; handlers map it to HTTP at the edge.

DyndashError
├── BadRequest            400  malformed request outside the body schema
├── Unauthorized          401  missing, invalid, revoked or expired API key
├── Forbidden             403  valid key without the needed scope
├── NotFound              404  unknown id
├── Conflict              409  duplicate name/path, entity still in use
├── PreconditionFailed    412  stale If-Match
├── PayloadTooLarge       413  body over the size limit
│   └── BodyTooLarge      413  raised while the body streams in (also an HTTPException, so
│                              the framework's body parsing lets it through)
├── ValidationFailed      422  a field's value is wrong (names the field)
│   └── TemplateInvalid   422  template syntax error or unknown reference (with line)
├── RateLimited           429  over the rate limit (carries Retry-After)
├── RenderFailed          422  preview render failed or ran over its budget
├── Unavailable           503  a dependency is down (carries Retry-After)
├── RenderError           500  a template failed while rendering (an error in the template)
│   └── BudgetExceeded    503  a render passed its time, memory, CPU or output budget
│       └── BlockedRender 503  not rendered: its include graph already failed its budget
└── Unservable            5xx  no version of a page can be served (its status and reason)

The render errors are raised inside render processes and the sandbox, and answered as pages
by the gateway (`Unservable`); the admin API answers a preview's as `RenderFailed`.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException


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


# Both bases carry `headers` (a dict here, an optional mapping in Starlette); ours is set last.
class BodyTooLarge(PayloadTooLarge, HTTPException):  # type: ignore[misc]
    def __init__(self, max_bytes: int) -> None:
        message = f"the request body exceeds the limit of {max_bytes} bytes"
        HTTPException.__init__(self, 413, message)
        PayloadTooLarge.__init__(self, message)


class RenderError(DyndashError):
    status_code = 500
    code = "render_error"


class BudgetExceeded(RenderError):
    status_code = 503
    code = "render_budget"


class BlockedRender(BudgetExceeded):
    pass


class Unservable(DyndashError):
    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status_code = status
        self.status = status
        self.reason = reason
        self.retry_after = retry_after
