"""The admin API application: built per process, resources in its lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from dyndash_admin_api.routers import dashboards, events, health, keys, routes, site, templates
from dyndash_admin_api.ui import ui_router
from dyndash_common.apikeys import ensure_key
from dyndash_common.events import EventBus, run_sweeper
from dyndash_common.loop_lag import sample_loop_lag, settle_heap
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings, get_settings
from dyndash_common.tasks import cancel_and_wait
from dyndash_common.templating import RenderBudget, RenderPool
from dyndash_common.web import (
    DRAINING_STATE_KEY,
    BodyLimitMiddleware,
    RequestIdMiddleware,
    SharedChecks,
    StreamSlots,
    install_error_handlers,
    instrument_http,
    operator_port,
    refine_document,
    scrape,
)


def create_app(settings: Settings | None = None, *, bus: EventBus | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = build_runtime(settings, bus)
        pool = RenderPool(RenderBudget.from_settings(settings), size=settings.render_processes)
        # Warm before the first request: the first preview or save is as quick as the next.
        await pool.start()
        if settings.bootstrap_api_key:
            async with runtime.database.write() as session:
                await ensure_key(
                    session,
                    pepper=settings.key_pepper,
                    secret=settings.bootstrap_api_key,
                    name="bootstrap",
                    source="DYNDASH_BOOTSTRAP_API_KEY",
                )
        sweeper = asyncio.create_task(
            run_sweeper(
                runtime.database,
                runtime.bus,
                runtime.jobs,
                settings.outbox_sweep_interval_seconds,
                settings.outbox_sweep_grace_seconds,
            )
        )
        lag = asyncio.create_task(sample_loop_lag())
        app.state.runtime = runtime
        app.state.render_pool = pool
        app.state.event_stream_slots = StreamSlots(
            per_holder=settings.events_max_per_key,
            total=settings.events_max_streams,
            holder_kind="API key",
        )
        app.state.event_stream_rechecks = SharedChecks[str | None]()
        settle_heap()

        async def metrics() -> bytes:
            return await scrape(runtime.database, runtime.redis)

        try:
            async with operator_port(settings, metrics):
                # Request state: the server protocol sets `draining` when a shutdown begins.
                yield {DRAINING_STATE_KEY: asyncio.Event()}
        finally:
            await cancel_and_wait((sweeper, lag))
            await pool.aclose()
            await runtime.close()

    app = FastAPI(
        title="dyndash admin API",
        version="0.1.0",
        description="Templates, routes, dashboards, widgets, API keys and the change-event stream.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    instrument_http(app)
    refine_document(app)
    for router in (
        templates.router,
        routes.router,
        dashboards.router,
        keys.router,
        events.router,
        site.router,
        health.router,
    ):
        app.include_router(router)
    app.include_router(ui_router(settings))
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={site.APPLY_PATH: settings.max_bundle_bytes},
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["X-API-Key", "Authorization", "Content-Type", "If-Match", "Last-Event-ID"],
        expose_headers=["ETag", "RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-ID"],
    )
    app.add_middleware(RequestIdMiddleware)
    return app
