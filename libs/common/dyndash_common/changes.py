"""A write and its change events: one transaction, then publication after commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_common.db.models import Event
from dyndash_common.events import outbox
from dyndash_common.events.model import SITE_APPLIED, ChangeEvent
from dyndash_common.events.publisher import publish_committed
from dyndash_common.runtime import Runtime


@dataclass
class ChangeSet:
    """One write's transaction and the change events it records, published after commit."""

    session: AsyncSession
    events: list[Event] = field(default_factory=list)

    async def emit(
        self, type: str, kind: str, entity_id: int, version: int, payload: dict[str, Any]
    ) -> None:
        """Record an event; call after the change's last statement, right before commit."""
        self.events.append(
            await outbox.record(
                self.session,
                type=type,
                kind=kind,
                entity_id=entity_id,
                version=version,
                payload=payload,
            )
        )

    async def emit_batch(self, parts: list[dict[str, Any]], payload: dict[str, Any]) -> None:
        """Record one `site.applied` event standing for all of `parts` (each a change's
        type, entity, version and payload): followers apply them together
        (`dyndash_common.events.model`). Nothing is recorded when there are none."""
        if not parts:
            return
        row = await outbox.record(
            self.session,
            type=SITE_APPLIED,
            kind="site",
            entity_id=0,
            version=0,
            payload={**payload, "changes": parts},
        )
        # Its version is its own id: render jobs are deduplicated by type, entity and version.
        row.version = row.id
        await self.session.flush()
        self.events.append(row)


@asynccontextmanager
async def change(runtime: Runtime) -> AsyncIterator[ChangeSet]:
    async with runtime.database.write() as session:
        changes = ChangeSet(session)
        yield changes
        committed = [ChangeEvent.from_row(row) for row in changes.events]
    await publish_committed(runtime.database, runtime.bus, runtime.jobs, committed)
