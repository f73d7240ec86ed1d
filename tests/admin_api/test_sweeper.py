"""A process killed between commit and publish loses no event: the sweeper publishes it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from dyndash_common.db import Database, Event, create_engine
from dyndash_common.events import InProcessBus, stream_key, sweep_once
from dyndash_common.jobs import NoJobs
from tests.conftest import start_api
from tests.utils.backends import Backend
from tests.utils.services import REDIS_URL


def _crash_after_commit(backend: Backend) -> subprocess.CompletedProcess[str]:
    settings = backend.settings
    arguments = [settings.database_url]
    if settings.redis_url:
        arguments += [settings.redis_url, settings.redis_prefix]
    return subprocess.run(
        [sys.executable, "-m", "tests.utils.crash_after_commit", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _events(database: Database) -> list[Event]:
    async with database.read() as session:
        return list((await session.execute(select(Event))).scalars().all())


async def test_killed_writer_leaves_the_event_for_the_sweeper(backend: Backend) -> None:
    crashed = _crash_after_commit(backend)
    assert crashed.returncode == 137, crashed.stderr
    database = Database(create_engine(backend.settings.database_url))
    try:
        [orphan] = await _events(database)
        assert orphan.type == "template.created"
        assert orphan.published_at is None

        bus = InProcessBus()
        async with bus.subscribe() as subscription:
            assert await sweep_once(database, bus, NoJobs(), grace_seconds=0) == 1
            received = await subscription.next(1)
        assert received is not None
        assert received.id == orphan.id
        assert received.payload["name"] == "orphan"
        [swept] = await _events(database)
        assert swept.published_at is not None
        assert await sweep_once(database, bus, NoJobs(), grace_seconds=0) == 0
    finally:
        await database.dispose()


async def test_running_admin_api_sweeps_to_the_redis_stream(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("the Redis stream exists only on the PostgreSQL + Redis backend")
    crashed = _crash_after_commit(backend)
    assert crashed.returncode == 137, crashed.stderr
    stream = stream_key(backend.settings.redis_prefix)
    redis = Redis.from_url(REDIS_URL)
    try:
        assert await redis.xlen(stream) == 0
        async for _api in start_api(backend):
            for _ in range(100):
                if await redis.xlen(stream):
                    break
                await asyncio.sleep(0.05)
        entries = await redis.xrange(stream)
    finally:
        await redis.aclose()
    assert len(entries) == 1
    assert orjson.loads(entries[0][1][b"event"])["payload"]["name"] == "orphan"
