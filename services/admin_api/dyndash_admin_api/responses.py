"""OpenAPI declarations of what each kind of admin endpoint can answer, with its headers."""

from __future__ import annotations

from typing import Any

from dyndash_common.web import RATE_LIMIT, error_responses, header

ETAG = {"ETag": header("The resource's version, for If-Match.", r'^"[0-9]+"$')}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Errors of an authenticated endpoint: besides `statuses`, every one can answer a bad
    key (401), an invalid parameter (422), the rate limit (429) and a database outage (503)."""
    return error_responses(401, 422, 429, 503, *statuses)


def answers(
    *statuses: int, success: int = 200, etag: bool = False
) -> dict[int | str, dict[str, Any]]:
    """The success answer's headers (every authenticated answer carries the rate-limit
    state; reads and writes of one resource its ETag) and the errors."""
    headers = {**RATE_LIMIT, **(ETAG if etag else {})}
    return {success: {"headers": headers}, **errors(*statuses)}
