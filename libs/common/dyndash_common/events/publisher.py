"""After commit: publish the transaction's events, and the sweeper for what that missed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select

from dyndash_common.db.engine import Database
from dyndash_common.db.models import Event
from dyndash_common.db.types import utcnow
from dyndash_common.events.bus import EventBus
from dyndash_common.events.model import ChangeEvent
from dyndash_common.events.outbox import mark_published
from dyndash_common.metrics import EVENTS_PUBLISHED

log = logging.getLogger("dyndash.events")


class JobQueue(Protocol):
    """Where a published change queues its render work (`dyndash_common.jobs`)."""

    async def enqueue_warm(self, event: ChangeEvent) -> None: ...


async def publish_committed(
    database: Database, bus: EventBus, jobs: JobQueue, events: Sequence[ChangeEvent]
) -> None:
    """The fast path: to the bus, and to the render queue. A failure here is logged, not
    raised: the change is committed and the sweeper will publish the event."""
    if not events:
        return
    try:
        for event in events:
            await bus.publish(event)
            EVENTS_PUBLISHED.inc()
            await jobs.enqueue_warm(event)
        async with database.write() as session:
            await mark_published(session, [event.id for event in events])
    except Exception as error:
        log.warning(
            "event_publish_deferred",
            extra={"details": {"event_ids": [e.id for e in events], "error": repr(error)}},
        )


async def sweep_once(
    database: Database, bus: EventBus, jobs: JobQueue, grace_seconds: float
) -> int:
    """Publish events older than the grace period that nobody marked published; returns how
    many. On PostgreSQL, SKIP LOCKED lets several sweepers share the work without overlap."""
    cutoff = utcnow() - timedelta(seconds=grace_seconds)
    async with database.write() as session:
        query = (
            select(Event)
            .where(Event.published_at.is_(None), Event.created_at <= cutoff)
            .order_by(Event.id)
            .limit(500)
        )
        if database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = (await session.execute(query)).scalars().all()
        for row in rows:
            event = ChangeEvent.from_row(row)
            await bus.publish(event)
            EVENTS_PUBLISHED.inc()
            await jobs.enqueue_warm(event)
        await mark_published(session, [row.id for row in rows])
    if rows:
        log.info("outbox_swept", extra={"details": {"event_ids": [row.id for row in rows]}})
    return len(rows)


async def run_sweeper(
    database: Database,
    bus: EventBus,
    jobs: JobQueue,
    interval_seconds: float,
    grace_seconds: float,
) -> None:
    while True:
        try:
            await sweep_once(database, bus, jobs, grace_seconds)
        except Exception as error:
            log.warning("outbox_sweep_failed", extra={"details": {"error": repr(error)}})
        await asyncio.sleep(interval_seconds)
