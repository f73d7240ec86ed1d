"""Dependencies shared by the routers, as Annotated aliases."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from pydantic import WithJsonSchema

from dyndash_admin_api.schemas.common import MAX_ID
from dyndash_common.apikeys import authenticate, require_scope
from dyndash_common.db import ApiKey
from dyndash_common.errors import BadRequest, RateLimited, Unauthorized
from dyndash_common.runtime import Runtime
from dyndash_common.templating import RenderPool
from dyndash_common.web import PathId, client_address, presented_key

# What If-Match may hold: `*`, or one ETag as sent in ETag (weak or unquoted also taken).
# The document declares this pattern; a value outside it is answered 400 here, as the README
# promises, rather than FastAPI's 422 for a parameter.
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"[0-9]{1,9}"|[0-9]{1,9})$'


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_render_pool(request: Request) -> RenderPool:
    pool: RenderPool = request.app.state.render_pool
    return pool


RenderPoolDep = Annotated[RenderPool, Depends(get_render_pool)]


PresentedKey = Annotated[str | None, Depends(presented_key)]


async def _limit(runtime: Runtime, response: Response, identity: str) -> None:
    decision = await runtime.rate_limiter.hit(identity)
    response.headers.update(decision.headers())
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of {decision.limit} requests per {decision.window_seconds} s exceeded; "
            f"retry in {decision.reset_seconds} s",
            headers=decision.headers(),
        )


async def current_key(
    request: Request, response: Response, runtime: RuntimeDep, presented: PresentedKey
) -> ApiKey:
    """The caller's verified key, counted against its rate limit (anonymous and failed
    attempts count against the client address instead)."""
    try:
        async with runtime.database.sessions() as session:
            key = await authenticate(
                session, pepper=runtime.settings.key_pepper, presented=presented
            )
            await session.commit()
    except Unauthorized:
        client = client_address(request.scope, runtime.settings.trusted_proxies)
        await _limit(runtime, response, f"ip:{client}")
        raise
    await _limit(runtime, response, f"key:{key.id}")
    return key


def scoped(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    async def dependency(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        require_scope(key, scope)
        return key

    return dependency


CurrentKey = Annotated[ApiKey, Depends(current_key)]
AdminKey = Annotated[ApiKey, Depends(scoped("admin"))]
TemplatesWriter = Annotated[ApiKey, Depends(scoped("templates:write"))]
RoutesWriter = Annotated[ApiKey, Depends(scoped("routes:write"))]
DashboardsWriter = Annotated[ApiKey, Depends(scoped("dashboards:write"))]
DataWriter = Annotated[ApiKey, Depends(scoped("data:write"))]
EventsReader = Annotated[ApiKey, Depends(scoped("events:read"))]
SiteApplier = Annotated[ApiKey, Depends(scoped("site:apply"))]


def if_match_version(
    if_match: Annotated[
        str | None,
        Header(
            description='Apply only if the resource is still at this version: its ETag (`"3"`) '
            "or `*`."
        ),
        WithJsonSchema({"type": "string", "pattern": IF_MATCH_PATTERN}),
    ] = None,
) -> int | None:
    """The version an If-Match names; None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    match = re.match(IF_MATCH_PATTERN, if_match.strip())
    if match is None:
        raise BadRequest(
            f'If-Match must be an ETag such as "3" (as sent in ETag), not {if_match!r}',
            details={"header": "If-Match"},
        )
    return int(match.group().removeprefix("W/").strip('"'))


IfMatch = Annotated[int | None, Depends(if_match_version)]
Force = Annotated[
    bool,
    Query(
        description="Write an object managed by files (a site apply) anyway; the change "
        "event records it"
    ),
]
Limit = Annotated[int, Query(ge=1, le=200, description="page size")]
Offset = Annotated[int, Query(ge=0, le=MAX_ID, description="items to skip")]
EntityId = PathId


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
