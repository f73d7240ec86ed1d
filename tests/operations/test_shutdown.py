"""SIGTERM with browsers attached: open streams are told to reconnect and end, a request that
never finishes is cut at DYNDASH_SHUTDOWN_TIMEOUT_SECONDS, and the lifespan cleanup runs."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from devtools.cluster import free_port
from dyndash import granian_server
from dyndash_admin_api.operations.dashboards import create_dashboard
from dyndash_common.changes import change
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER, sqlite_backend

SHUTDOWN_BOUND = 3


async def _start(
    command: str, database_url: str, port: int, server: str = "uvicorn"
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DYNDASH_GATEWAY_SERVER": server,
        "DATABASE_URL": database_url,
        "DYNDASH_KEY_PEPPER": TEST_PEPPER,
        "DYNDASH_BOOTSTRAP_API_KEY": ADMIN_SECRET,
        "DYNDASH_SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_BOUND),
        "DYNDASH_METRICS_PORT": "0",
    }
    env.pop("REDIS_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dyndash.cli",
        command,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    while b"Application startup complete" not in await asyncio.wait_for(
        process.stderr.readline(), 30
    ):
        pass
    return process


async def _stream(url: str, opened: asyncio.Event) -> list[str]:
    """Read an SSE stream to its end; the event names seen."""
    events = []
    async with (
        httpx.AsyncClient(headers={"X-API-Key": ADMIN_SECRET}) as client,
        client.stream("GET", url, timeout=30) as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            opened.set()
            if line.startswith("event:"):
                events.append(line.removeprefix("event: "))
    return events


async def _stop(process: asyncio.subprocess.Process) -> tuple[float, list[str]]:
    """SIGTERM; seconds until the process exited, and its remaining log events."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    process.send_signal(signal.SIGTERM)
    assert process.stderr is not None
    rest = await asyncio.wait_for(process.stderr.read(), SHUTDOWN_BOUND + 10)
    await process.wait()
    return loop.time() - started, [json.loads(line)["event"] for line in rest.splitlines()]


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
async def test_gateway_ends_live_streams_on_sigterm(tmp_path: Path, server: str) -> None:
    backend = await sqlite_backend(tmp_path)
    runtime = build_runtime(backend.settings)
    async with change(runtime) as changes:
        dashboard = await create_dashboard(
            changes, {"name": "live", "title": "", "description": None, "is_public": True}
        )
    await runtime.close()
    port = free_port()
    process = await _start("gateway", backend.settings.database_url, port, server)
    opened = asyncio.Event()
    reading = asyncio.create_task(
        _stream(f"http://127.0.0.1:{port}/live/dashboards/{dashboard.id}", opened)
    )
    await asyncio.wait_for(opened.wait(), 10)
    took, logged = await _stop(process)
    assert took < 2, "the open stream ended at once; no waiting for the bound"
    assert await asyncio.wait_for(reading, 5) == ["closing"]
    assert "stream_ended" in logged
    assert "Application shutdown complete." in logged


async def test_admin_shutdown_is_bounded_even_by_a_request_that_never_finishes(
    tmp_path: Path,
) -> None:
    backend = await sqlite_backend(tmp_path)
    port = free_port()
    process = await _start("admin", backend.settings.database_url, port)
    opened = asyncio.Event()
    reading = asyncio.create_task(_stream(f"http://127.0.0.1:{port}/api/v1/events", opened))
    await asyncio.wait_for(opened.wait(), 10)
    # A body announced and never sent: its request waits for ever.
    _, stuck = await asyncio.open_connection("127.0.0.1", port)
    stuck.write(
        b"POST /api/v1/templates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + ADMIN_SECRET.encode() + b"\r\nContent-Length: 100\r\n\r\n{"
    )
    await stuck.drain()
    await asyncio.sleep(0.3)
    took, logged = await _stop(process)
    stuck.close()
    assert SHUTDOWN_BOUND - 0.5 < took < SHUTDOWN_BOUND + 3
    assert await asyncio.wait_for(reading, 5) == ["closing"]
    assert "stream_ended" in logged
    assert "Application shutdown complete." in logged


async def test_granian_shutdown_is_bounded_even_by_a_request_that_never_finishes() -> None:
    """The gateway's granian runner: streams are told first, a request that never finishes is
    cancelled at the bound, and the lifespan cleanup runs after it."""
    happened: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            happened.append("cleanup")
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"...", "more_body": True})
        try:
            await asyncio.Event().wait()
        finally:
            happened.append("cancelled")

    port = free_port()
    stop = asyncio.Event()
    settings = Settings(shutdown_timeout_seconds=1)
    serving = asyncio.create_task(
        granian_server.serve(app, settings, host="127.0.0.1", port=port, stop=stop)
    )
    async with httpx.AsyncClient() as client:
        for _ in range(500):
            try:
                stream = client.stream("GET", f"http://127.0.0.1:{port}/", timeout=10)
                response = await stream.__aenter__()
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.01)
        assert response.status_code == 200
        loop = asyncio.get_running_loop()
        started = loop.time()
        stop.set()
        await asyncio.wait_for(serving, 10)
        took = loop.time() - started
        await stream.__aexit__(None, None, None)
    assert 0.9 < took < 3
    assert happened == ["cancelled", "cleanup"]
