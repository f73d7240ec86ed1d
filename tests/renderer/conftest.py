"""Render workers against the real Redis and PostgreSQL (the renderer has no embedded mode)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from arq.jobs import Job
from arq.worker import Worker

from dyndash_common.settings import Settings
from dyndash_renderer.worker import RenderWorker, worker_settings
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend


@pytest.fixture
def real_servers(backend: Backend) -> Backend:
    if backend.name != "postgres":
        pytest.skip("the renderer's queue lives in Redis: tested on the real servers only")
    return backend


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, **overrides: Any) -> AsyncIterator[Worker]:
    options = worker_settings(settings)
    options.update(handle_signals=False, **overrides)
    worker = RenderWorker(**options)
    task = asyncio.create_task(worker.async_run())
    try:
        yield worker
    finally:
        # Jobs still running at the end of a test are cancelled by arq (that is expected) and
        # waited for; close() then runs `shutdown` and closes the pool whatever they ended in.
        await worker.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def warmed(
    worker: Worker, event_type: str, entity_id: int, version: int, seconds: float = 15.0
) -> dict[str, Any]:
    """Wait for the warm job of one change and return its report."""
    job = Job(
        f"{worker.queue_name.rsplit(':', 1)[0]}:warm:{event_type}:{entity_id}:{version}",
        worker.pool,
        _queue_name=worker.queue_name,
        _deserializer=orjson.loads,
    )
    result: dict[str, Any] = await job.result(timeout=seconds, poll_delay=0.02)
    return result


async def until(
    condition: Callable[[], Any], seconds: float = 10.0, interval: float = 0.02
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await _holds(condition):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


async def _holds(condition: Callable[[], Any]) -> bool:
    result = condition()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


@pytest.fixture
async def rendered_site(real_servers: Backend) -> AsyncIterator[tuple[Site, Worker]]:
    async for site in start_site(real_servers):
        async with running_worker(real_servers.settings) as worker:
            yield site, worker


@pytest.fixture
async def plain_site(real_servers: Backend) -> AsyncIterator[Site]:
    async for site in start_site(real_servers):
        yield site
