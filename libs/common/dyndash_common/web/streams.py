"""Server-Sent Event streams that end on their own.

A stream outlives the request that authorised it, so it re-checks the caller on a timer,
whatever the traffic: a revoked key loses its stream within RECHECK_SECONDS plus one check.
It also ends, with a last frame telling the client to reconnect, when the server starts
shutting down; otherwise an open browser tab would hold the shutdown until its deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request

from dyndash_common.tasks import cancel_and_wait

RECHECK_SECONDS = 2.0
KEEPALIVE_SECONDS = 15.0
log = logging.getLogger("dyndash.streams")

# Set by the server protocol when a graceful shutdown begins (dyndash_common.web.protocol);
# the lifespan of each app puts one in its state.
DRAINING_STATE_KEY = "draining"


def draining(request: Request) -> asyncio.Event:
    """The app's shutdown signal; an event nobody sets when the app runs without one."""
    event = getattr(request.state, DRAINING_STATE_KEY, None)
    return event if isinstance(event, asyncio.Event) else asyncio.Event()


def _frame(event: str, message: str) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (event.encode(), orjson.dumps({"message": message}))


async def guarded(
    frames: AsyncGenerator[bytes, None],
    *,
    recheck: Callable[[], Awaitable[str | None]],
    closing: asyncio.Event,
) -> AsyncGenerator[bytes, None]:
    """Pass `frames` on; every RECHECK_SECONDS ask `recheck` (None: still allowed, else the
    reason to end); end when `closing` is set; keep-alive comments through quiet periods."""
    loop = asyncio.get_running_loop()
    next_frame: asyncio.Future[Any] = asyncio.ensure_future(anext(frames))
    closed: asyncio.Future[Any] = asyncio.ensure_future(closing.wait())
    recheck_at = loop.time() + RECHECK_SECONDS
    last_write = loop.time()
    reason = "client"
    try:
        while True:
            done, _ = await asyncio.wait(
                {next_frame, closed},
                timeout=max(0.0, recheck_at - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if closed in done:
                reason = "shutdown"
                yield _frame("closing", "the server is shutting down; reconnect")
                return
            if next_frame in done:
                try:
                    frame = next_frame.result()
                except StopAsyncIteration:
                    reason = "source"
                    return
                next_frame = asyncio.ensure_future(anext(frames))
                yield frame
                last_write = loop.time()
            if loop.time() >= recheck_at:
                refused = await recheck()
                if refused is not None:
                    reason = "unauthorised"
                    yield _frame("error", refused)
                    return
                recheck_at = loop.time() + RECHECK_SECONDS
            if loop.time() - last_write >= KEEPALIVE_SECONDS:
                yield b": keepalive\n\n"
                last_write = loop.time()
    finally:
        await cancel_and_wait((next_frame, closed))
        await frames.aclose()
        log.info("stream_ended", extra={"details": {"reason": reason}})
