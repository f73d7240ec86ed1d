"""The gateway application: a raw ASGI front for pages, FastAPI behind it for the rest."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from dyndash_common.events import EventBus
from dyndash_common.loop_lag import settle_heap
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings, get_settings
from dyndash_common.web import (
    DRAINING_STATE_KEY,
    RequestIdMiddleware,
    install_error_handlers,
    instrument_http,
    operator_port,
    refine_document,
    scrape,
)
from dyndash_gateway import api
from dyndash_gateway.front import GatewayFront
from dyndash_gateway.gateway import Gateway, RendererFactory


def create_framework_app(
    settings: Settings, bus: EventBus | None = None, render_with: RendererFactory | None = None
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = build_runtime(settings, bus)
        gateway = Gateway(runtime, render_with)
        await gateway.start()
        app.state.gateway = gateway
        settle_heap()

        async def metrics() -> bytes:
            return await scrape(runtime.database, runtime.redis, gateway.memory)

        try:
            async with operator_port(settings, metrics):
                # Request state: the server protocol sets `draining` when a shutdown begins.
                yield {DRAINING_STATE_KEY: asyncio.Event()}
        finally:
            try:
                await gateway.stop()
            finally:
                # The connections close whatever stopping the gateway raised.
                await runtime.close()

    app = FastAPI(
        title="dyndash gateway",
        version="0.1.0",
        description="Dashboard data API of the gateway; pages, fragments and assets are served "
        "at their own paths.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    instrument_http(app)
    refine_document(app)
    app.include_router(api.router)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET"],
        allow_headers=["X-API-Key", "Authorization", "If-None-Match"],
        expose_headers=["ETag", "X-Cache", "X-Request-ID"],
    )
    app.add_middleware(RequestIdMiddleware)
    return app


def create_app(
    settings: Settings | None = None,
    *,
    bus: EventBus | None = None,
    render_with: RendererFactory | None = None,
) -> GatewayFront:
    settings = settings or get_settings()
    framework = create_framework_app(settings, bus, render_with)
    return GatewayFront(framework, framework)
