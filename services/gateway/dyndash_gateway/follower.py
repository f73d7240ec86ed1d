"""Keeping the in-memory state current: change events, catch-up, and a periodic resync.

With Redis the gateway reads the event stream with a blocking XREAD from the last entry it
applied, so live delivery and catch-up after a blip are the same loop. If the stream no longer
holds that entry (trimmed past retention, or Redis restarted empty) the gateway reloads
everything and drops its L1. Without Redis it follows the outbox, woken by the in-process bus.
A full resync every `resync_seconds` bounds staleness even if every event were lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from dyndash_common.db.engine import Database
from dyndash_common.events.bus import EventBus
from dyndash_common.events.feed import follow
from dyndash_common.events.model import ChangeEvent
from dyndash_common.metrics import EVENT_LAG_SECONDS, EVENTS_APPLIED
from dyndash_common.site.state import GatewayState

log = logging.getLogger("dyndash.gateway")

BACKOFF_START_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0
BLOCK_MILLISECONDS = 5000


class StateFollower:
    def __init__(
        self,
        state: GatewayState,
        database: Database,
        *,
        on_gap: Callable[[], None],
        resync_seconds: float,
    ) -> None:
        self.state = state
        self.database = database
        self.on_gap = on_gap
        self.resync_seconds = resync_seconds
        self.applied = 0
        self.last_applied_at = 0.0
        # Told of each event once it is applied (live pushes, in-process warming).
        self.listeners: list[Callable[[ChangeEvent], None]] = []

    async def load(self) -> None:
        async with self.database.read() as session:
            await self.state.load(session)

    async def apply(self, event: ChangeEvent) -> None:
        if event.is_report:
            # Reports change nothing a follower reads from the database, and no listener
            # (live streams, warming) has anything to do for them.
            if event.type == "template.render_failed":
                self.state.note_render_failure(event)
            return
        kind, entity_id = event.entity.kind, event.entity.id
        async with self.database.read() as session:
            if kind == "template":
                await self.state.reload_template(session, entity_id)
            elif kind == "route":
                await self.state.reload_routes(session)
            elif kind == "dashboard":
                await self.state.reload_dashboard(session, entity_id)
                if event.type == "dashboard.deleted":
                    await self.state.reload_routes(session)
            elif kind == "widget":
                dashboard_id = event.payload.get("dashboard_id")
                if isinstance(dashboard_id, int):
                    await self.state.reload_dashboard(session, dashboard_id)
        self.applied += 1
        self.last_applied_at = time.time()
        EVENTS_APPLIED.inc()
        if event.id:
            EVENT_LAG_SECONDS.observe(max(0.0, self.last_applied_at - event.ts.timestamp()))
        for listener in self.listeners:
            listener(event)

    async def resync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            try:
                async with self.database.read() as session:
                    await self.state.sync(session)
            except Exception as error:
                log.warning("resync_failed", extra={"details": {"error": repr(error)}})

    async def follow_outbox(self, bus: EventBus) -> None:
        backoff = BACKOFF_START_SECONDS
        after: int | None = None
        while True:
            try:
                async for event in follow(self.database, bus, after, 1.0):
                    if event is not None:
                        await self.apply(event)
                        after = event.id
                    backoff = BACKOFF_START_SECONDS
            except Exception as error:
                log.warning("event_follow_failed", extra={"details": {"error": repr(error)}})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)

    async def follow_stream(self, redis: Redis, stream: str) -> None:
        """Apply stream entries in order, from where the initial load left off."""
        last_id: str | None = await self._stream_tail(redis, stream)
        backoff = BACKOFF_START_SECONDS
        while True:
            try:
                if last_id is None:
                    last_id = await self._resynchronise(redis, stream)
                replies = await redis.xread({stream: last_id}, count=100, block=BLOCK_MILLISECONDS)
                for _, entries in replies or ():
                    for entry_id, fields in entries:
                        await self.apply(ChangeEvent.model_validate(orjson.loads(fields[b"event"])))
                        last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                backoff = BACKOFF_START_SECONDS
            except (ResponseError, ValueError) as error:
                log.error("event_stream_unreadable", extra={"details": {"error": repr(error)}})
                last_id = None
                await asyncio.sleep(backoff)
            except Exception as error:
                log.warning(
                    "event_stream_interrupted",
                    extra={"details": {"error": repr(error), "retry_in": backoff}},
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
                if last_id is not None and await self._gap_after(redis, stream, last_id):
                    last_id = None

    @staticmethod
    async def _stream_tail(redis: Redis, stream: str) -> str:
        entries = await redis.xrevrange(stream, count=1)
        if not entries:
            return "0-0"
        entry_id = entries[0][0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def _gap_after(self, redis: Redis, stream: str, last_id: str) -> bool:
        """True when entries after `last_id` may be gone: the stream restarted or was trimmed."""
        try:
            first = await redis.xrange(stream, count=1)
            newest = await redis.xrevrange(stream, count=1)
        except Exception:
            return False
        if last_id == "0-0":
            return False
        if not newest:
            return True
        first_id = first[0][0].decode()
        newest_id = newest[0][0].decode()
        return _id_tuple(newest_id) < _id_tuple(last_id) or _id_tuple(first_id) > _id_tuple(last_id)

    async def _resynchronise(self, redis: Redis, stream: str) -> str:
        tail = await self._stream_tail(redis, stream)
        await self.load()
        self.on_gap()
        log.warning("state_resynchronised", extra={"details": {"stream_position": tail}})
        return tail


def _id_tuple(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)
