"""The change stream: each write's event, in order, live over SSE and resumable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from dyndash_common.db import Database, Event, create_engine
from dyndash_common.events import stream_key
from tests.conftest import Api
from tests.utils.services import REDIS_URL


@contextlib.asynccontextmanager
async def sse(api: Api, headers: dict[str, str] | None = None) -> AsyncIterator[asyncio.Queue[Any]]:
    """Collect SSE frames as dicts; yields once the stream is open."""
    frames: asyncio.Queue[Any] = asyncio.Queue()
    opened = asyncio.Event()

    async def read() -> None:
        async with api.client.stream("GET", "/api/v1/events", headers=headers, timeout=None) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            frame: dict[str, Any] = {}
            async for line in r.aiter_lines():
                if line.startswith("retry:"):
                    opened.set()
                elif line.startswith(("id:", "event:", "data:")):
                    field, _, value = line.partition(": ")
                    frame[field] = value
                elif line == "" and frame:
                    frames.put_nowait({**frame, "data": orjson.loads(frame["data"])})
                    frame = {}

    reader = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 5)
    try:
        yield frames
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


async def test_each_write_appears_on_the_stream(api: Api) -> None:
    async with sse(api) as frames:
        template = await api.create_template("live", "<p>1</p>")
        await api.client.put(f"/api/v1/templates/{template['id']}", json={"html_content": "2"})
        created = await asyncio.wait_for(frames.get(), 5)
        updated = await asyncio.wait_for(frames.get(), 5)
    assert created["event"] == "template.created"
    assert created["data"]["entity"] == {"kind": "template", "id": template["id"]}
    assert created["data"]["version"] == 1
    assert updated["event"] == "template.updated"
    assert updated["data"]["version"] == 2
    assert int(updated["id"]) > int(created["id"])
    assert updated["data"]["ts"].endswith("Z")


async def test_last_event_id_resumes_after_that_event(api: Api) -> None:
    for name in ("a", "b", "c"):
        await api.create_template(name)
    async with sse(api, {"Last-Event-ID": "1"}) as frames:
        replayed = [await asyncio.wait_for(frames.get(), 5) for _ in range(2)]
        await api.create_dashboard("d")
        live = await asyncio.wait_for(frames.get(), 5)
    assert [frame["id"] for frame in replayed] == ["2", "3"]
    assert [frame["data"]["payload"]["name"] for frame in replayed] == ["b", "c"]
    assert live["event"] == "dashboard.created"
    assert live["id"] == "4"


async def test_widget_data_push_is_an_event(api: Api) -> None:
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    ).json()["data"]
    async with sse(api) as frames:
        await api.client.post(f"/api/v1/data/widget/{widget['id']}", json={"data": {"v": 9}})
        frame = await asyncio.wait_for(frames.get(), 5)
    assert frame["event"] == "widget.data_updated"
    assert frame["data"]["version"] == 2
    assert frame["data"]["payload"]["dashboard_id"] == dashboard["id"]


async def test_refused_writes_leave_no_event_and_writes_are_marked_published(api: Api) -> None:
    await api.create_template("one")
    await api.client.post("/api/v1/templates", json={"name": "one"})
    await api.client.post("/api/v1/templates", json={"name": "bad", "html_content": "{% if %}"})
    database = Database(create_engine(api.backend.settings.database_url))
    async with database.read() as session:
        events = (await session.execute(select(Event))).scalars().all()
    await database.dispose()
    assert [(e.type, e.version) for e in events] == [("template.created", 1)]
    assert events[0].published_at is not None


async def test_redis_stream_holds_each_event(api: Api) -> None:
    if api.backend.name != "postgres":
        pytest.skip("the embedded backend has no Redis stream; its bus is covered above")
    template = await api.create_template("streamed")
    redis = Redis.from_url(REDIS_URL)
    entries = await redis.xrange(stream_key(api.backend.settings.redis_prefix))
    await redis.aclose()
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields[b"type"] == b"template.created"
    assert orjson.loads(fields[b"event"])["entity"]["id"] == template["id"]


async def test_events_stream_requires_events_scope(api: Api) -> None:
    reader = await api.create_key("events:read")
    response = await api.client.get("/api/v1/events", headers={"X-API-Key": "ddk_bad-key-123456"})
    assert response.status_code == 401
    async with sse(api, {"X-API-Key": reader}) as frames:
        await api.create_template("seen")
        frame = await asyncio.wait_for(frames.get(), 5)
    assert frame["event"] == "template.created"


async def test_a_revoked_key_loses_its_stream_while_events_flow(api: Api) -> None:
    reader = await api.create_key("events:read")
    keys = (await api.client.get("/api/v1/keys")).json()["data"]["items"]
    reader_id = next(k["id"] for k in keys if k["name"] == "test")
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    ).json()["data"]
    opened = asyncio.Event()
    seen: list[str] = []

    async def read() -> None:
        headers = {"X-API-Key": reader}
        async with api.client.stream(
            "GET", "/api/v1/events", headers=headers, timeout=None
        ) as response:
            async for line in response.aiter_lines():
                opened.set()
                if line.startswith("event:"):
                    seen.append(line)

    async def traffic() -> None:
        for number in range(10_000):
            await api.client.post(f"/api/v1/data/widget/{widget['id']}", json={"data": number})
            await asyncio.sleep(0.05)

    reading = asyncio.create_task(read())
    await asyncio.wait_for(opened.wait(), 5)
    writing = asyncio.create_task(traffic())
    try:
        await asyncio.sleep(0.5)
        assert (await api.client.delete(f"/api/v1/keys/{reader_id}")).status_code == 200
        revoked_at = asyncio.get_running_loop().time()
        await asyncio.wait_for(reading, 5)
        ended_after = asyncio.get_running_loop().time() - revoked_at
    finally:
        writing.cancel()
        reading.cancel()
    assert ended_after < 5
    assert "event: widget.data_updated" in seen, "events were flowing"
    assert seen[-1] == "event: error"
