"""Browsers following a dashboard: widget updates pushed over Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson

from dyndash_common.events import ChangeEvent

QUEUE_SIZE = 100


class LiveHub:
    """The browsers following each dashboard, and the widget updates pushed to them."""

    def __init__(self) -> None:
        self._listeners: dict[int, set[asyncio.Queue[bytes]]] = {}

    @asynccontextmanager
    async def listen(self, dashboard_id: int) -> AsyncIterator[asyncio.Queue[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._listeners.setdefault(dashboard_id, set()).add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners.get(dashboard_id, set())
            listeners.discard(queue)
            if not listeners:
                self._listeners.pop(dashboard_id, None)

    def on_event(self, event: ChangeEvent) -> None:
        """Called once the gateway has applied `event`, so a fetch of the fragment is fresh."""
        if event.entity.kind != "widget" or event.type == "widget.created":
            return
        dashboard_id = event.payload.get("dashboard_id")
        listeners = self._listeners.get(dashboard_id) if isinstance(dashboard_id, int) else None
        if not listeners:
            return
        message: dict[str, Any] = {
            "widget_id": event.entity.id,
            "type": event.type,
            "data_version": event.payload.get("data_version"),
            "fragment": f"/fragments/widgets/{event.entity.id}",
        }
        frame = b"event: widget\ndata: " + orjson.dumps(message) + b"\n\n"
        for queue in listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(frame)

    @property
    def connections(self) -> int:
        return sum(len(queues) for queues in self._listeners.values())
