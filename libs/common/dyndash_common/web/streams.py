"""Server-Sent Event streams that end on their own.

A stream outlives the request that authorised it, so it re-checks the caller on a timer,
whatever the traffic: a revoked key loses its stream within RECHECK_SECONDS plus one check.
It also ends, with a last frame telling the client to reconnect, when the server starts
shutting down; otherwise an open browser tab would hold the shutdown until its deadline.

One watch per event loop re-checks every open stream and sends their keep-alives, rather than
a timer per stream. A stream sits idle on one wait that lasts until something happens to it:
per-stream timers made short-lived objects every period for each of thousands of streams,
which lived just long enough to reach the garbage collector's oldest generation and made its
full collections, pauses of every request, frequent (measured with 5,000 open streams:
bench.live_streams, README "Security: what is enforced where").
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request

from dyndash_common.tasks import cancel_and_wait

RECHECK_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
# Re-checks run this many at a time: each may wait on the database (shared per key).
RECHECK_BATCH = 256
log = logging.getLogger("dyndash.streams")

# Set by the server protocol when a graceful shutdown begins (dyndash_common.web.protocol);
# the lifespan of each app puts one in its state.
DRAINING_STATE_KEY = "draining"
Recheck = Callable[[], Awaitable[str | None]]


def draining(request: Request) -> asyncio.Event:
    """The app's shutdown signal; an event nobody sets when the app runs without one."""
    event = getattr(request.state, DRAINING_STATE_KEY, None)
    return event if isinstance(event, asyncio.Event) else asyncio.Event()


def _frame(event: str, message: str) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps({"message": message}))


class _Watched:
    """One open stream as the watch sees it; `wake` is resolved with what the stream must do:
    `(b"keepalive", "")` or `(b"refused", reason)`."""

    __slots__ = ("last_write", "recheck", "wake")

    def __init__(self, recheck: Recheck, now: float, loop: asyncio.AbstractEventLoop) -> None:
        self.recheck = recheck
        self.last_write = now
        self.wake: asyncio.Future[tuple[bytes, str]] = loop.create_future()


class StreamWatch:
    """Every open stream of one event loop, re-checked every `recheck_seconds` by one task
    that runs while there are streams."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        recheck_seconds: float = RECHECK_SECONDS,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self.loop = loop
        self.recheck_seconds = recheck_seconds
        self.keepalive_seconds = keepalive_seconds
        self._streams: set[_Watched] = set()
        self._ticker: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._streams)

    def add(self, recheck: Recheck) -> _Watched:
        watched = _Watched(recheck, self.loop.time(), self.loop)
        self._streams.add(watched)
        if self._ticker is None or self._ticker.done():
            self._ticker = self.loop.create_task(self._tick(), name="stream-watch")
        return watched

    def remove(self, watched: _Watched) -> None:
        self._streams.discard(watched)
        if not self._streams and self._ticker is not None:
            # No stream left to watch: the task ends now rather than outliving every stream.
            self._ticker.cancel()
            self._ticker = None

    async def _tick(self) -> None:
        while self._streams:
            await asyncio.sleep(self.recheck_seconds)
            due = [watched for watched in self._streams if not watched.wake.done()]
            for start in range(0, len(due), RECHECK_BATCH):
                await asyncio.gather(*(self._check(w) for w in due[start : start + RECHECK_BATCH]))

    async def _check(self, watched: _Watched) -> None:
        try:
            refused = await watched.recheck()
        except Exception as error:
            # The check could not be made (the database away): the stream stays, and the next
            # period asks again; ending every stream on a blip would send every browser back.
            log.warning("stream_recheck_failed", extra={"details": {"error": repr(error)}})
            return
        if watched.wake.done() or watched not in self._streams:
            return
        if refused is not None:
            watched.wake.set_result((b"refused", refused))
        elif self.loop.time() - watched.last_write >= self.keepalive_seconds:
            watched.wake.set_result((b"keepalive", ""))


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamWatch] = (
    weakref.WeakKeyDictionary()
)


def stream_watch() -> StreamWatch:
    """The running loop's watch (one per loop: each test, each server process)."""
    loop = asyncio.get_running_loop()
    watch = _WATCHES.get(loop)
    if watch is None:
        watch = _WATCHES[loop] = StreamWatch(loop)
    return watch


async def guarded(
    frames: AsyncGenerator[bytes, None],
    *,
    recheck: Recheck,
    closing: asyncio.Event,
) -> AsyncGenerator[bytes, None]:
    """Pass `frames` on; every RECHECK_SECONDS ask `recheck` (None: still allowed, else the
    reason to end); end when `closing` is set; keep-alive comments through quiet periods."""
    watch = stream_watch()
    loop = watch.loop
    watched = watch.add(recheck)
    next_frame: asyncio.Future[Any] = asyncio.ensure_future(anext(frames))
    closed: asyncio.Future[Any] = asyncio.ensure_future(closing.wait())
    reason = "client"
    try:
        while True:
            done, _ = await asyncio.wait(
                {next_frame, closed, watched.wake}, return_when=asyncio.FIRST_COMPLETED
            )
            if closed in done:
                reason = "shutdown"
                yield _frame("closing", "the server is shutting down; reconnect")
                return
            if watched.wake in done:
                what, refusal = watched.wake.result()
                if what == b"refused":
                    reason = "unauthorised"
                    yield _frame("error", refusal)
                    return
                watched.wake = loop.create_future()
                yield b": keepalive\n\n"
                watched.last_write = loop.time()
            if next_frame in done:
                try:
                    frame = next_frame.result()
                except StopAsyncIteration:
                    reason = "source"
                    return
                next_frame = asyncio.ensure_future(anext(frames))
                yield frame
                watched.last_write = loop.time()
    finally:
        watch.remove(watched)
        await cancel_and_wait((next_frame, closed))
        await frames.aclose()
        log.info("stream_ended", extra={"details": {"reason": reason}})
