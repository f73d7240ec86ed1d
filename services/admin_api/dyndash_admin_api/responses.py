"""OpenAPI declarations of what each kind of admin endpoint can answer, with its headers."""

from __future__ import annotations

from typing import Any

from dyndash_common.web import RATE_LIMIT, error_responses, header

ETAG = {"ETag": header("The resource's version, for If-Match.", r'^"[0-9]+"$')}
# Any version matches the If-Match pattern; only the server knows the current one.
STALE = (
    "Stale If-Match: the version it names is no longer the object's current version (someone "
    "wrote it since); read it again and retry with its new ETag"
)
# The lead of a 422 description that lists rules the schema cannot express: a request valid
# by the document may still be refused for these, and for nothing else.
BEYOND_SCHEMA = "Also refused, by rules the schema cannot express: "


def errors(*statuses: int, beyond_schema: str = "") -> dict[int | str, dict[str, Any]]:
    """Errors of an authenticated endpoint: besides `statuses`, every one can answer a bad
    key (401), an invalid parameter (422), the rate limit (429) and a database outage (503).
    `beyond_schema` names what else the operation refuses with 422 that its schema allows."""
    responses = error_responses(401, 422, 429, 503, *statuses)
    if beyond_schema:
        invalid = responses[422]
        invalid["description"] = f"{invalid['description']}. {BEYOND_SCHEMA}{beyond_schema}"
    if 412 in responses:
        responses[412]["description"] = STALE
    return responses


def answers(
    *statuses: int, success: int = 200, etag: bool = False, beyond_schema: str = ""
) -> dict[int | str, dict[str, Any]]:
    """The success answer's headers (every authenticated answer carries the rate-limit
    state; reads and writes of one resource its ETag) and the errors."""
    headers = {**RATE_LIMIT, **(ETAG if etag else {})}
    return {success: {"headers": headers}, **errors(*statuses, beyond_schema=beyond_schema)}
