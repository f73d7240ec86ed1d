"""The gateway's framework side: the dashboard data API, live streams, health and OpenAPI.

Metrics are not here: they are on the operator port (dyndash_common.web.operator).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from dyndash_common.cache import CachedEntry
from dyndash_common.envelope import Envelope
from dyndash_common.errors import (
    DyndashError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
    Unservable,
)
from dyndash_common.site import data_key
from dyndash_common.web import (
    PathId,
    SlotStreamingResponse,
    client_address,
    dependency_checks,
    draining,
    error_responses,
    event_stream,
    guarded,
    header,
    presented_key,
)
from dyndash_gateway.gateway import Gateway
from dyndash_gateway.responses import EntryResponse, entry_response

router = APIRouter()


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


# Public dashboards need no key: the empty requirement makes the schemes optional.
KEY_IF_NOT_PUBLIC: dict[str, Any] = {"security": [{}]}
DATA_HEADERS = {
    "ETag": header(
        "A hash of the body, with -gz or -br for those encodings, for If-None-Match.",
        r'^"[0-9a-f]{24}(?:-gz|-br)?"$',
    ),
    "Cache-Control": header(
        "Public or private by the dashboard's visibility; revalidate on every use.",
        "^(public|private), no-cache$",
    ),
    "Vary": header(
        "Responses differ by Accept-Encoding (and Origin, where CORS is on).",
        "^Accept-Encoding(?:, Origin)?$",
    ),
    "X-Cache": header("Where the answer came from.", "^(HIT-L1|HIT-L2|MISS|STALE)$"),
}
PresentedKey = Annotated[str | None, Depends(presented_key)]


@router.get(
    "/api/v1/data/dashboard/{dashboard_id}",
    operation_id="dashboard_data_get",
    tags=["data"],
    response_model=Envelope[dict[str, Any]],
    responses={
        200: {"headers": DATA_HEADERS},
        304: {
            "description": "Not modified: the If-None-Match named the current ETag",
            "headers": DATA_HEADERS,
        },
        **error_responses(401, 403, 404, 422, 429, 503),
    },
    openapi_extra=KEY_IF_NOT_PUBLIC,
)
async def dashboard_data(
    request: Request,
    dashboard_id: PathId,
    presented: PresentedKey,
    if_none_match: Annotated[
        str | None, Header(description="An ETag this client holds; 304 if still current.")
    ] = None,
) -> Response:
    """The dashboard and its widgets with their data; a key with `data:read`
    unless the dashboard is public."""
    gateway = _gateway(request)
    await _limited(gateway, request)
    await _authorise_dashboard(gateway, dashboard_id, presented)
    dashboard = gateway.state.dashboards[dashboard_id]
    ttl = gateway.settings.fragment_ttl_seconds

    async def build() -> CachedEntry | None:
        return await gateway.builder.dashboard_data(dashboard_id, ttl)

    try:
        served = await gateway.responses.get(data_key(dashboard_id), dashboard.signature, build)
    except Unservable as error:
        raise Unavailable(
            error.reason, headers={"Retry-After": str(error.retry_after or 5)}
        ) from None
    if served is None:
        raise NotFound(f"dashboard {dashboard_id} does not exist")
    visibility = b"public" if dashboard.is_public else b"private"
    return EntryResponse(
        *entry_response(
            served.entry,
            cache=served.cache.encode(),
            cache_control=visibility + b", no-cache",
            accept_encoding=request.headers.get("accept-encoding", "").encode("latin-1"),
            if_none_match=request.headers.get("if-none-match", "").encode("latin-1"),
        )
    )


async def _limited(gateway: Gateway, request: Request) -> str:
    """The client's address, once the rate limiter let this request through (data requests and
    stream opens share one budget per address)."""
    client = client_address(request.scope, gateway.settings.trusted_proxies)
    decision = await gateway.runtime.rate_limiter.hit(f"data:{client}")
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of {decision.limit} requests per {decision.window_seconds} s exceeded",
            headers=decision.headers(),
        )
    return client


async def _authorise_dashboard(
    gateway: Gateway, dashboard_id: int, presented: str | None, *, fresh: bool = False
) -> None:
    dashboard = gateway.state.dashboards.get(dashboard_id)
    if dashboard is None:
        raise NotFound(f"dashboard {dashboard_id} does not exist")
    if dashboard.is_public:
        return
    check = await gateway.keys.check(presented, fresh=fresh)
    if not check.valid:
        raise Unauthorized(check.reason)
    if not check.allows("data:read"):
        raise Forbidden("this API key lacks the 'data:read' scope")


@router.get(
    "/live/dashboards/{dashboard_id}",
    operation_id="dashboard_live_stream",
    tags=["live"],
    response_class=StreamingResponse,
    responses={
        200: event_stream("Widget updates as Server-Sent Events (`event: widget`)"),
        **error_responses(401, 403, 404, 422, 429, 503),
    },
    openapi_extra=KEY_IF_NOT_PUBLIC,
)
async def live_dashboard(
    request: Request, dashboard_id: PathId, presented: PresentedKey
) -> StreamingResponse:
    """Widget updates of one dashboard as they happen: `event: widget`, data with the widget
    id, its data version and the fragment URL to fetch. The stream ends (`event: error`) once
    the key is revoked or the dashboard turns private or goes, and (`event: closing`) when
    the gateway shuts down. Open streams are bounded per client address (429) and per gateway
    process (503), and each open counts against the address's rate limit."""
    gateway = _gateway(request)
    client = await _limited(gateway, request)
    await _authorise_dashboard(gateway, dashboard_id, presented)

    async def frames() -> AsyncGenerator[bytes, None]:
        async with gateway.live.listen(dashboard_id) as queue:
            yield b"retry: 1000\n\n"
            while True:
                yield await queue.get()

    async def refusal() -> str | None:
        # Past the key cache: a revoked key must lose its stream within seconds.
        try:
            await _authorise_dashboard(gateway, dashboard_id, presented, fresh=True)
        except DyndashError as error:
            return error.message
        return None

    # Taken last: nothing between here and the response's start can fail and keep it.
    slot = gateway.stream_slots.take(client)
    return SlotStreamingResponse(
        guarded(frames(), recheck=refusal, closing=draining(request)),
        slot=slot,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
    l1_entries: int


@router.get("/healthz", operation_id="health_live", tags=["health"], response_model=Liveness)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="health_ready",
    tags=["health"],
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not able to serve yet"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready while the gateway can serve: state loaded, and the database reachable or pages
    in its cache to serve from."""
    gateway = _gateway(request)
    checks = {
        "state": "ok" if gateway.state.loaded else "loading",
        **await dependency_checks(gateway.runtime),
    }
    serving = gateway.state.loaded and (checks["database"] == "ok" or len(gateway.memory) > 0)
    body = {
        "status": "ready" if serving else "not_ready",
        "checks": checks,
        "l1_entries": len(gateway.memory),
    }
    return JSONResponse(body, status_code=200 if serving else 503)
