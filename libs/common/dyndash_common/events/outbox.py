"""Writing events in the change's own transaction, and reading them back in order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_common.db.models import Event
from dyndash_common.db.types import utcnow

# Any constant shared by every writer; only the outbox takes this lock.
_OUTBOX_LOCK_KEY = 7243002


async def record(
    session: AsyncSession,
    *,
    type: str,
    kind: str,
    entity_id: int,
    version: int,
    payload: dict[str, Any] | None = None,
) -> Event:
    """Add an outbox row to the session's open transaction.

    Call it as the last statement before commit. On PostgreSQL it takes a transaction-scoped
    lock, so event ids are handed out in commit order: a reader resuming "after id N" can
    never miss an event that commits later with a smaller id.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK_KEY})
    row = Event(
        type=type,
        entity_kind=kind,
        entity_id=entity_id,
        version=version,
        payload=payload or {},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def events_after(session: AsyncSession, last_id: int, limit: int = 500) -> Sequence[Event]:
    result = await session.execute(
        select(Event).where(Event.id > last_id).order_by(Event.id).limit(limit)
    )
    return result.scalars().all()


async def latest_id(session: AsyncSession) -> int:
    return (await session.execute(select(func.max(Event.id)))).scalar_one_or_none() or 0


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        await session.execute(
            update(Event)
            .where(Event.id.in_(ids), Event.published_at.is_(None))
            .values(published_at=utcnow())
        )
