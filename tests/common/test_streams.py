"""Open SSE streams: one watch per event loop re-checks them and keeps them alive
(dyndash_common.web.streams)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

from dyndash_common.web import guarded
from dyndash_common.web.streams import _WATCHES, StreamWatch, stream_watch


async def quiet() -> AsyncGenerator[bytes, None]:
    yield b"retry: 1000\n\n"
    await asyncio.Event().wait()
    yield b"never"


@asynccontextmanager
async def fast_watch() -> AsyncIterator[StreamWatch]:
    loop = asyncio.get_running_loop()
    watch = _WATCHES[loop] = StreamWatch(loop, recheck_seconds=0.02, keepalive_seconds=0.1)
    try:
        yield watch
    finally:
        del _WATCHES[loop]


async def collect(stream: AsyncGenerator[bytes, None], into: list[bytes]) -> None:
    async for frame in stream:
        into.append(frame)


async def test_a_quiet_stream_gets_keepalives_and_is_rechecked() -> None:
    checks = 0

    async def allowed() -> str | None:
        nonlocal checks
        checks += 1
        return None

    frames: list[bytes] = []
    async with fast_watch():
        reader = asyncio.create_task(
            collect(guarded(quiet(), recheck=allowed, closing=asyncio.Event()), frames)
        )
        await asyncio.sleep(0.5)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    assert frames[0] == b"retry: 1000\n\n"
    assert frames.count(b": keepalive\n\n") >= 2
    assert checks >= 5


async def test_a_refused_recheck_ends_the_stream_with_its_reason() -> None:
    async def revoked() -> str | None:
        return "the API key has been revoked"

    frames: list[bytes] = []
    async with fast_watch() as watch:
        stream = guarded(quiet(), recheck=revoked, closing=asyncio.Event())
        await asyncio.wait_for(collect(stream, frames), 5)
        assert len(watch) == 0
    assert frames[-1].startswith(b"event: error\n")
    assert b"revoked" in frames[-1]


async def test_a_recheck_that_cannot_be_made_leaves_the_stream_open() -> None:
    async def unreachable() -> str | None:
        raise ConnectionError("database unreachable")

    frames: list[bytes] = []
    async with fast_watch() as watch:
        reader = asyncio.create_task(
            collect(guarded(quiet(), recheck=unreachable, closing=asyncio.Event()), frames)
        )
        await asyncio.sleep(0.3)
        assert not reader.done()
        assert len(watch) == 1
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        assert len(watch) == 0


async def test_closing_ends_every_stream_with_a_reconnect_frame() -> None:
    async def allowed() -> str | None:
        return None

    closing = asyncio.Event()
    outputs: list[list[bytes]] = [[] for _ in range(50)]
    async with fast_watch():
        readers = [
            asyncio.create_task(collect(guarded(quiet(), recheck=allowed, closing=closing), out))
            for out in outputs
        ]
        await asyncio.sleep(0.05)
        closing.set()
        await asyncio.wait_for(asyncio.gather(*readers), 5)
    assert all(out[-1].startswith(b"event: closing\n") for out in outputs)


async def test_many_streams_are_watched_by_one_task() -> None:
    """Not a timer per stream: thousands of those made the garbage collector's full
    collections frequent (README, "Security: what is enforced where")."""

    async def allowed() -> str | None:
        return None

    closing = asyncio.Event()
    readers = [
        asyncio.create_task(collect(guarded(quiet(), recheck=allowed, closing=closing), []))
        for _ in range(500)
    ]
    await asyncio.sleep(0.05)
    assert len(stream_watch()) == 500
    watchers = [t for t in asyncio.all_tasks() if t.get_name() == "stream-watch"]
    assert len(watchers) == 1
    closing.set()
    await asyncio.wait_for(asyncio.gather(*readers), 5)
    await asyncio.sleep(0)
    assert len(stream_watch()) == 0
    assert watchers[0].done()
