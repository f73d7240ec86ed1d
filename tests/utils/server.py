"""A real server on a free loopback port, inside the test's event loop: the services' own
server configuration (dyndash.server), so tests meet the same edge as production."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

from devtools.cluster import free_port
from dyndash import granian_server
from dyndash.server import server_config
from dyndash_common.settings import Settings

SHUTDOWN_SECONDS = 1


@asynccontextmanager
async def serve(
    app: ASGIApp,
    settings: Settings | None = None,
    server: Literal["granian", "uvicorn"] = "uvicorn",
) -> AsyncIterator[str]:
    """`app` on `server` (the admin API's is uvicorn; a gateway passes its setting)."""
    settings = settings or Settings()
    serving = _granian(app, settings) if server == "granian" else _uvicorn(app, settings)
    async with serving as url:
        yield url


@asynccontextmanager
async def _uvicorn(app: ASGIApp, settings: Settings) -> AsyncIterator[str]:
    config = server_config(app, settings, host="127.0.0.1", port=0, lifespan="on")
    config.timeout_graceful_shutdown = SHUTDOWN_SECONDS
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def _granian(app: ASGIApp, settings: Settings) -> AsyncIterator[str]:
    # granian binds in its own runtime and does not say which port 0 became: pick one.
    port = free_port()
    stop = asyncio.Event()
    settings = settings.model_copy(update={"shutdown_timeout_seconds": SHUTDOWN_SECONDS})
    task = asyncio.create_task(
        granian_server.serve(app, settings, host="127.0.0.1", port=port, stop=stop)
    )
    while True:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await task
