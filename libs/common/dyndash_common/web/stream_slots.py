"""Bounds on open Server-Sent Event streams: per holder (a client address, an API key) and per
process.

A stream is a request in flight for as long as it is open, and an HTTP server admits only so
many of those; unbounded, streams alone could fill that capacity and leave nothing for pages or
health checks (README, "Security: what is enforced where"). A refused open says when to retry.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterable, Mapping

from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from dyndash_common.errors import RateLimited, Unavailable

# Long enough for other holders' streams to end; short enough that a reconnect is prompt.
RETRY_AFTER_SECONDS = 5


class StreamSlot:
    """One open stream's place; `release` gives it back (once, however often it is called)."""

    def __init__(self, slots: StreamSlots, holder: str) -> None:
        self._slots = slots
        self._holder = holder
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots._give_back(self._holder)


class StreamSlots:
    """At most `per_holder` streams per holder and `total` in all, in this process."""

    def __init__(self, *, per_holder: int, total: int, holder_kind: str = "client address") -> None:
        self.per_holder = per_holder
        self.total = total
        self.holder_kind = holder_kind
        self._open: dict[str, int] = {}
        self._count = 0

    @property
    def open(self) -> int:
        return self._count

    def take(self, holder: str) -> StreamSlot:
        """A slot for `holder`, or RateLimited (its own cap) / Unavailable (the process's cap),
        each with Retry-After."""
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        held = self._open.get(holder, 0)
        if held >= self.per_holder:
            raise RateLimited(
                f"this {self.holder_kind} already has {held} open streams, the most allowed; "
                "close one or retry later",
                headers=retry,
            )
        if self._count >= self.total:
            raise Unavailable(
                f"this server holds {self._count} open streams, the most it takes; retry later",
                headers=retry,
            )
        self._open[holder] = held + 1
        self._count += 1
        return StreamSlot(self, holder)

    def _give_back(self, holder: str) -> None:
        self._count -= 1
        left = self._open.get(holder, 1) - 1
        if left > 0:
            self._open[holder] = left
        else:
            self._open.pop(holder, None)


class SlotStreamingResponse(StreamingResponse):
    """A stream that gives its slot back when its response ends, however it ends: a client
    gone, a cancelled task, an error, or a body that was never started (a generator's own
    `finally` would not run then)."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        slot: StreamSlot,
        media_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers, background=background)
        self.slot = slot
        # A response dropped before it was sent (a failing middleware) still gives it back.
        weakref.finalize(self, slot.release)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.slot.release()
