"""The event bus: its interface, and the in-process bus of the embedded default.

With Redis the bus is `dyndash_common.events.stream.RedisBus`, beside the stream's reader.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from dyndash_common.events.model import ChangeEvent


class Subscription(Protocol):
    async def next(self, wait_seconds: float) -> ChangeEvent | None:
        """The next event, or None when `wait_seconds` pass without one."""


class EventBus(Protocol):
    async def publish(self, event: ChangeEvent) -> None: ...

    def subscribe(self) -> contextlib.AbstractAsyncContextManager[Subscription]: ...


class _QueueSubscription:
    def __init__(self, queue: asyncio.Queue[ChangeEvent]) -> None:
        self.queue = queue

    async def next(self, wait_seconds: float) -> ChangeEvent | None:
        try:
            return await asyncio.wait_for(self.queue.get(), wait_seconds)
        except TimeoutError:
            return None


class InProcessBus:
    """Fan-out to every subscriber of this process. A slow subscriber loses its oldest events,
    never blocks the publisher; consumers re-read the outbox for what they need exactly."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._queues: set[asyncio.Queue[ChangeEvent]] = set()
        self._queue_size = queue_size

    async def publish(self, event: ChangeEvent) -> None:
        for queue in self._queues:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        queue: asyncio.Queue[ChangeEvent] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            yield _QueueSubscription(queue)
        finally:
            self._queues.discard(queue)


class PubSubSubscription:
    """Messages of a Redis pub/sub channel (see `dyndash_common.events.stream`)."""

    def __init__(self, pubsub: object) -> None:
        self.pubsub = pubsub

    async def next(self, wait_seconds: float) -> ChangeEvent | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while (remaining := deadline - loop.time()) > 0:
            message = await self.pubsub.get_message(  # type: ignore[attr-defined]
                ignore_subscribe_messages=True, timeout=remaining
            )
            if message is not None and message.get("type") == "message":
                return ChangeEvent.from_json(message["data"])
        return None
