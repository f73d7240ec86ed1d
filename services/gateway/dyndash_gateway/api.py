"""The gateway's framework side: the dashboard data API, health and OpenAPI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from dyndash_common.cache.entry import CachedEntry
from dyndash_common.envelope import Envelope, ErrorData
from dyndash_common.errors import (
    DyndashError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from dyndash_common.site.keys import data_key
from dyndash_common.web.clients import client_address
from dyndash_common.web.instrumentation import scrape
from dyndash_common.web.params import PathId
from dyndash_common.web.streams import draining, guarded
from dyndash_gateway.gateway import Gateway
from dyndash_gateway.responses import EntryResponse, entry_response
from dyndash_gateway.service import Unservable

router = APIRouter()
READY_TIMEOUT_SECONDS = 1.0


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


@router.get(
    "/api/v1/data/dashboard/{dashboard_id}",
    tags=["data"],
    response_model=Envelope[dict[str, Any]],
    responses={status: {"model": Envelope[ErrorData]} for status in (401, 403, 404, 429, 503)},
)
async def dashboard_data(
    request: Request,
    dashboard_id: PathId,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    """The dashboard and its widgets with their data (seed §4.1); a key with `data:read`
    unless the dashboard is public."""
    gateway = _gateway(request)
    client = client_address(request.scope, gateway.settings.trusted_proxies)
    decision = await gateway.runtime.rate_limiter.hit(f"data:{client}")
    if not decision.allowed:
        raise RateLimited(
            f"rate limit of {decision.limit} requests per {decision.window_seconds} s exceeded",
            headers=decision.headers(),
        )
    await _authorise_dashboard(gateway, dashboard_id, _presented(x_api_key, authorization))
    dashboard = gateway.state.dashboards[dashboard_id]
    ttl = gateway.settings.gateway_stale_seconds or 300

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


def _presented(x_api_key: str | None, authorization: str | None) -> str | None:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


@router.get(
    "/live/dashboards/{dashboard_id}",
    tags=["live"],
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"},
        **{status: {"model": Envelope[ErrorData]} for status in (401, 403, 404)},
    },
)
async def live_dashboard(
    request: Request,
    dashboard_id: PathId,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Widget updates of one dashboard as they happen: `event: widget`, data with the widget
    id, its data version and the fragment URL to fetch. The stream ends (`event: error`) once
    the key is revoked or the dashboard turns private or goes, and (`event: closing`) when
    the gateway shuts down."""
    gateway = _gateway(request)
    presented = _presented(x_api_key, authorization)
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

    return StreamingResponse(
        guarded(frames(), recheck=refusal, closing=draining(request)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text format, this process only."""
    gateway = _gateway(request)
    body = await scrape(gateway.runtime.database, gateway.runtime.redis, gateway.memory)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["health"])
async def readyz(request: Request) -> JSONResponse:
    """Ready while the gateway can serve: state loaded, and the database reachable or pages
    in its cache to serve from."""
    gateway = _gateway(request)
    checks: dict[str, str] = {"state": "ok" if gateway.state.loaded else "loading"}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with gateway.runtime.database.read() as session:
                await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:
        checks["database"] = f"failed: {type(error).__name__}"
    if gateway.runtime.redis is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await gateway.runtime.redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            checks["redis"] = f"failed: {type(error).__name__}"
    serving = gateway.state.loaded and (checks["database"] == "ok" or len(gateway.memory) > 0)
    body = {
        "status": "ready" if serving else "not_ready",
        "checks": checks,
        "l1_entries": len(gateway.memory),
    }
    return JSONResponse(body, status_code=200 if serving else 503)
