"""Open change-event streams are bounded per API key and per admin API process (README,
"Security: what is enforced where")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.conftest import Api, start_api
from tests.gateway.test_live_caps import Stream, close_all, open_stream
from tests.utils.backends import Backend


async def open_events(api: Api, key: str, count: int) -> list[Stream]:
    streams = []
    for _ in range(count):
        streams.append(await open_stream(api.base_url, "/api/v1/events", key=key))
    return streams


@asynccontextmanager
async def events_api(backend: Backend, **settings: object) -> AsyncIterator[Api]:
    async for api in start_api(backend.with_settings(**settings)):
        yield api


async def test_one_key_gets_its_cap_of_event_streams(backend: Backend) -> None:
    async with events_api(backend, events_max_per_key=3) as api:
        reader = await api.create_key("events:read")
        other = await api.create_key("events:read")
        streams = await open_events(api, reader, 4)
        try:
            assert [stream.status for stream in streams] == [200, 200, 200, 429]
            assert int(streams[3].headers["retry-after"]) >= 1
            # Another key has streams of its own, and the API answers everything else.
            streams += await open_events(api, other, 1)
            assert streams[-1].status == 200
            assert (await api.client.get("/api/v1/templates?limit=1")).status_code == 200
        finally:
            close_all(streams)


async def test_the_process_cap_holds_across_keys(backend: Backend) -> None:
    async with events_api(backend, events_max_streams=2) as api:
        keys = [await api.create_key("events:read") for _ in range(3)]
        streams = [(await open_events(api, key, 1))[0] for key in keys]
        try:
            assert [stream.status for stream in streams] == [200, 200, 503]
            assert int(streams[2].headers["retry-after"]) >= 1
        finally:
            close_all(streams)
