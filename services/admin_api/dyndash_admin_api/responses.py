"""OpenAPI declarations of the error envelopes each kind of endpoint can answer."""

from __future__ import annotations

from typing import Any

from dyndash_common.envelope import Envelope, ErrorData

ErrorEnvelope = Envelope[ErrorData]


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Malformed header",
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
    return {
        status: {"model": ErrorEnvelope, "description": descriptions[status]}
        for status in sorted({401, 429, 503, *statuses})
    }
