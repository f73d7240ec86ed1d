"""Open live streams are bounded per client address and per process, their opens are counted by
the rate limiter, and however many are open, pages, data and health keep answering
(README, "Security: what is enforced where": live streams)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from pydantic import ValidationError
from sqlalchemy import event

from dyndash_common.settings import Settings
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend

# Past granian's former in-flight cap (1,024), which open streams used to fill.
MORE_THAN_THE_OLD_CAP = 1_100


class Stream:
    """One raw HTTP/1.1 connection asking for a live stream; `status` once its line arrived."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.status = 0
        self.headers: dict[str, str] = {}

    def close(self) -> None:
        self.writer.close()


async def open_stream(
    url: str, path: str, source: str = "127.0.0.1", timeout: float = 5, key: str | None = None
) -> Stream:
    """Open a stream from `source` (any 127.0.0.0/8 address reaches loopback); status 0 if no
    status line came within `timeout`."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(
        parts.hostname, parts.port, local_addr=(source, 0)
    )
    credentials = f"X-API-Key: {key}\r\n" if key else ""
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{credentials}\r\n"
    writer.write(request.encode())
    await writer.drain()
    stream = Stream(reader, writer)
    try:
        line = await asyncio.wait_for(reader.readline(), timeout)
        stream.status = int(line.split()[1]) if line else 0
        while (header := await asyncio.wait_for(reader.readline(), timeout)) not in (b"\r\n", b""):
            name, _, value = header.decode("latin-1").partition(":")
            stream.headers[name.strip().lower()] = value.strip()
    except TimeoutError:
        pass
    return stream


async def open_many(url: str, path: str, sources: Iterable[str]) -> list[Stream]:
    # In batches, as browsers reconnecting after a deploy would: a burst of 1,000 SYNs at once
    # overflows the listen backlog before any of our code runs.
    streams: list[Stream] = []
    pending = list(sources)
    while pending:
        batch, pending = pending[:128], pending[128:]
        streams += await asyncio.gather(*(open_stream(url, path, source) for source in batch))
    return streams


def close_all(streams: Iterable[Stream]) -> None:
    for stream in streams:
        stream.close()


@asynccontextmanager
async def capped_site(backend: Backend, **settings: object) -> AsyncIterator[Site]:
    async for site in start_site(backend, settings):
        yield site


async def public_dashboard(site: Site) -> int:
    dashboard = await site.admin.create_dashboard("live-caps", is_public=True)
    await site.eventually(
        f"/api/v1/data/dashboard/{dashboard['id']}", lambda r: r.status_code == 200
    )
    return int(dashboard["id"])


async def assert_everything_else_answers(site: Site, dashboard_id: int) -> None:
    for path in ("/healthz", f"/api/v1/data/dashboard/{dashboard_id}", "/no-such-page"):
        response = await asyncio.wait_for(site.page(path), 5)
        assert response.status_code in (200, 404), (path, response.status_code)
        assert path == "/no-such-page" or response.status_code == 200, path


async def test_one_address_gets_its_cap_of_streams_and_a_429_after_it(backend: Backend) -> None:
    # The limiter raised, so the refusals counted are the stream cap's (the limiter has its
    # own test below).
    async with capped_site(backend, rate_limit_requests=10_000) as site:
        dashboard_id = await public_dashboard(site)
        url = str(site.web.base_url)
        streams = await open_many(
            url, f"/live/dashboards/{dashboard_id}", ["127.0.0.1"] * MORE_THAN_THE_OLD_CAP
        )
        try:
            statuses = [stream.status for stream in streams]
            # The default per-address cap (DYNDASH_LIVE_MAX_PER_ADDRESS) is 8.
            assert statuses.count(200) == 8
            assert statuses.count(429) == MORE_THAN_THE_OLD_CAP - 8
            refused = next(stream for stream in streams if stream.status == 429)
            assert int(refused.headers["retry-after"]) >= 1
            await assert_everything_else_answers(site, dashboard_id)
            assert site.gateway.live.connections == 8
        finally:
            close_all(streams)


async def test_streams_at_the_process_cap_leave_requests_room(backend: Backend) -> None:
    """As many streams as the process allows, from 11 addresses: every one gets in (granian's
    in-flight cap is above the stream cap), and pages, data and health still answer."""
    async with capped_site(
        backend,
        live_max_streams=MORE_THAN_THE_OLD_CAP,
        live_max_per_address=100,
        rate_limit_requests=10_000,
    ) as site:
        dashboard_id = await public_dashboard(site)
        url = str(site.web.base_url)
        sources = [f"127.0.0.{1 + n // 100}" for n in range(MORE_THAN_THE_OLD_CAP)]
        streams = await open_many(url, f"/live/dashboards/{dashboard_id}", sources)
        try:
            assert [stream.status for stream in streams].count(200) == MORE_THAN_THE_OLD_CAP
            await assert_everything_else_answers(site, dashboard_id)
            over = await open_stream(url, f"/live/dashboards/{dashboard_id}", "127.0.0.99")
            assert over.status == 503
            assert int(over.headers["retry-after"]) >= 1
            over.close()
        finally:
            close_all(streams)


async def test_a_closed_stream_gives_its_slot_back(backend: Backend) -> None:
    async with capped_site(backend, live_max_per_address=2) as site:
        dashboard_id = await public_dashboard(site)
        url, path = str(site.web.base_url), f"/live/dashboards/{dashboard_id}"
        first = await open_many(url, path, ["127.0.0.1"] * 3)
        assert [stream.status for stream in first] == [200, 200, 429]
        # Another address has slots of its own.
        other = await open_stream(url, path, "127.0.0.2")
        assert other.status == 200
        close_all(first)
        deadline = asyncio.get_running_loop().time() + 5
        while site.gateway.live.connections > 1 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        again = await open_many(url, path, ["127.0.0.1"] * 2)
        try:
            assert [stream.status for stream in again] == [200, 200]
        finally:
            close_all([*again, other])


async def test_stream_opens_are_counted_by_the_rate_limiter(backend: Backend) -> None:
    async with capped_site(backend, rate_limit_requests=20, live_max_per_address=100) as site:
        dashboard_id = await public_dashboard(site)
        url, path = str(site.web.base_url), f"/live/dashboards/{dashboard_id}"
        statuses = []
        for _ in range(25):
            stream = await open_stream(url, path, "127.0.0.3")
            statuses.append(stream.status)
            stream.close()
        # One at a time, so the per-address cap never bites: only the limiter refuses.
        assert statuses[:5] == [200] * 5
        assert statuses[-1] == 429
        assert 200 not in statuses[statuses.index(429) :]


@pytest.mark.parametrize("setting", ["live_max_per_address", "live_max_streams"])
def test_stream_caps_must_be_positive(setting: str) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({setting: 0})


async def test_streams_of_one_key_share_their_key_rechecks(backend: Backend) -> None:
    """Eight streams of one key on a private dashboard re-check it every 2 s: one key query
    per key per second between them, not one per stream (web.shared_checks)."""
    async with capped_site(backend) as site:
        dashboard = await site.admin.create_dashboard("private-live")
        reader = await site.admin.create_key("data:read")
        path = f"/live/dashboards/{dashboard['id']}"
        await site.eventually(path, lambda r: r.status_code == 401)
        queries = 0

        def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
            nonlocal queries
            if "FROM api_keys" in statement:
                queries += 1

        engine = site.gateway.runtime.database.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            streams = [
                await open_stream(str(site.web.base_url), path, key=reader) for _ in range(8)
            ]
            assert [stream.status for stream in streams] == [200] * 8
            queries = 0
            await asyncio.sleep(4.5)  # two re-check periods of every stream
            # 16 checks were due; shared, at most one query per second (plus one in flight).
            assert 1 <= queries <= 6, queries
        finally:
            event.remove(engine, "before_cursor_execute", count)
            close_all(streams)
