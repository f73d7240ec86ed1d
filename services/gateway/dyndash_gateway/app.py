"""The gateway application: a raw ASGI front for pages, FastAPI behind it for the rest."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from dyndash_common.events.bus import EventBus
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings, get_settings
from dyndash_common.web.errors import install_error_handlers
from dyndash_common.web.instrumentation import instrument_http
from dyndash_common.web.middleware import RequestIdMiddleware
from dyndash_common.web.openapi import refine_document
from dyndash_gateway import api
from dyndash_gateway.front import GatewayFront
from dyndash_gateway.gateway import Gateway


def create_framework_app(settings: Settings, bus: EventBus | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = build_runtime(settings, bus)
        gateway = Gateway(runtime)
        await gateway.start()
        app.state.gateway = gateway
        try:
            yield
        finally:
            await gateway.stop()
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


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> GatewayFront:
    settings = settings or get_settings()
    framework = create_framework_app(settings, bus)
    return GatewayFront(framework, framework)
