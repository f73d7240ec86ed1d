"""Following the outbox in order: what the SSE stream and `dyndash events tail` read."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dyndash_common.db.engine import Database
from dyndash_common.events.bus import EventBus
from dyndash_common.events.model import ChangeEvent
from dyndash_common.events.outbox import events_after, latest_id

BATCH = 500


async def follow(
    database: Database, bus: EventBus, after: int | None, idle_seconds: float
) -> AsyncIterator[ChangeEvent | None]:
    """Yield every event after `after` (None: from now on), then each new one as it commits.

    The outbox is the source and the bus only a wake-up, so a message the bus drops delays an
    event by at most `idle_seconds` and never loses it. Yields None after each idle period, so
    a caller can send keep-alives or notice a gone client.
    """
    async with bus.subscribe() as subscription:
        if after is None:
            async with database.read() as session:
                after = await latest_id(session)
        while True:
            async with database.read() as session:
                rows = await events_after(session, after, BATCH)
            for row in rows:
                after = row.id
                yield ChangeEvent.from_row(row)
            if len(rows) == BATCH:
                continue
            if await subscription.next(idle_seconds) is None:
                yield None
