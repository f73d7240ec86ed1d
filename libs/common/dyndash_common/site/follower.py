"""Keeping a site state current: change events, catch-up, and a periodic resync.

With Redis a gateway or render worker reads the event stream with a blocking XREAD from the
last entry it applied, so live delivery and catch-up after a blip are the same loop. If the
stream no longer holds that entry (trimmed past retention, or Redis restarted empty) it reloads
everything and calls `on_gap` (a gateway drops its L1). Without Redis it follows the outbox,
woken by the in-process bus. A full resync every `resync_seconds` bounds staleness even if
every event were lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.exceptions import ResponseError

from dyndash_common.db.engine import Database
from dyndash_common.events.bus import EventBus
from dyndash_common.events.feed import follow
from dyndash_common.events.model import ChangeEvent
from dyndash_common.events.stream import StreamReader
from dyndash_common.metrics import EVENT_LAG_SECONDS, EVENTS_APPLIED
from dyndash_common.site.state import SiteState

log = logging.getLogger("dyndash.site")

BACKOFF_START_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 5.0


class StateFollower:
    """Applies change events to one `SiteState`, reading only the entity each one names, and
    tells its listeners of each state change once applied."""

    def __init__(
        self,
        state: SiteState,
        database: Database,
        *,
        on_gap: Callable[[], None],
        resync_seconds: float,
    ) -> None:
        self.state = state
        self.database = database
        self.on_gap = on_gap
        self.resync_seconds = resync_seconds
        # Told of each event once it is applied (live pushes, in-process warming).
        self.listeners: list[Callable[[ChangeEvent], None]] = []

    async def load(self) -> None:
        async with self.database.read() as session:
            await self.state.load(session)

    async def apply(self, event: ChangeEvent) -> None:
        """Apply an event from the stream or outbox, then tell the listeners of a change."""
        await self.refresh(event)
        if event.is_report:
            # No listener (live streams, warming) has anything to do for a report.
            return
        EVENTS_APPLIED.inc()
        if event.id:
            EVENT_LAG_SECONDS.observe(max(0.0, time.time() - event.ts.timestamp()))
        # A batch is told part by part, after the whole of it is in the state.
        for part in event.parts():
            for listener in self.listeners:
                listener(part)

    async def refresh(self, event: ChangeEvent) -> None:
        """Bring the state up to date with what `event` names, reading only that entity."""
        if event.is_report:
            # Reports change nothing a follower reads from the database.
            if event.type == "template.render_failed":
                self.state.note_render_failure(event)
            return
        kind, entity_id = event.entity.kind, event.entity.id
        async with self.database.read() as session:
            if event.is_batch:
                # Read everything, then install it in one step (SiteState.sync).
                await self.state.sync(session)
            elif kind == "template":
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

    async def follow_stream(self, reader: StreamReader) -> None:
        """Apply stream entries in order, from where the initial load left off."""
        last_id: str | None = await reader.tail()
        backoff = BACKOFF_START_SECONDS
        while True:
            try:
                if last_id is None:
                    last_id = await self._resynchronise(reader)
                for entry_id, event in await reader.read(last_id):
                    await self.apply(event)
                    last_id = entry_id
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
                if last_id is not None and await reader.gap_after(last_id):
                    last_id = None

    async def _resynchronise(self, reader: StreamReader) -> str:
        tail = await reader.tail()
        await self.load()
        self.on_gap()
        log.warning("state_resynchronised", extra={"details": {"stream_position": tail}})
        return tail
