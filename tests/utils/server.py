"""A real server on a free loopback port, inside the test's event loop: the services' own
server configuration (dyndash.server), so tests meet the same edge as production."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp

from dyndash.server import server_config
from dyndash_common.settings import Settings


@asynccontextmanager
async def serve(app: ASGIApp, settings: Settings | None = None) -> AsyncIterator[str]:
    config = server_config(app, settings or Settings(), host="127.0.0.1", port=0, lifespan="on")
    config.timeout_graceful_shutdown = 1
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
