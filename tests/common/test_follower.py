"""Reports are not changes: a follower applies them without the database and tells no one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dyndash_common.events import ChangeEvent, EntityRef, StreamReader
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from dyndash_common.site import SiteState, StateFollower, graph_digest
from dyndash_gateway.live import LiveHub
from tests.utils.services import REDIS_URL, require_services


class NoDatabase:
    """Fails any read: a report must not cost one."""

    def read(self) -> Any:
        raise AssertionError("a report made the follower read the database")


def event(type_: str, payload: dict[str, Any]) -> ChangeEvent:
    return ChangeEvent(
        id=7,
        type=type_,
        entity=EntityRef(kind="template", id=3),
        version=2,
        ts=datetime.now(UTC),
        payload=payload,
    )


async def test_reports_change_no_state_read_and_reach_no_listener() -> None:
    state = SiteState()
    database: Any = NoDatabase()
    follower = StateFollower(state, database, on_gap=lambda: None, resync_seconds=60)
    told: list[ChangeEvent] = []
    hub = LiveHub()
    follower.listeners.extend([told.append, hub.on_event])
    signature = (("page", 2),)
    graph = graph_digest(signature)
    await follower.apply(event("cache.warmed", {"cause": "template.updated", "written": 1}))
    await follower.apply(
        event(
            "template.render_failed", {"name": "page", "error": "too slow", "budget_graph": graph}
        )
    )
    assert told == []
    # The render failure is applied from its payload: the graph is blocked here at once.
    assert state.failures.blocked("page", signature) == "too slow"
    assert state.failures.blocked("page", (("page", 3),)) is None


async def test_a_state_change_reads_its_entity() -> None:
    """The contrast: a state change reloads what it names from the database."""

    class AskedDatabase:
        def read(self) -> Any:
            raise LookupError("the database was asked")

    database: Any = AskedDatabase()
    follower = StateFollower(SiteState(), database, on_gap=lambda: None, resync_seconds=60)
    with pytest.raises(LookupError):
        await follower.apply(event("template.updated", {"name": "page"}))


async def test_an_idle_stream_read_returns_empty_on_the_services_redis_client(
    tmp_path: Path,
) -> None:
    """The follower's blocking read must end before the client's socket timeout: a read that
    times out is an error, and the follower then backs off with events waiting."""
    require_services()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        redis_url=REDIS_URL,
        redis_prefix=f"dyndash-test-{uuid.uuid4().hex[:10]}",
        key_pepper="test-pepper-0123456789-0123456789-abcdef",
    )
    runtime = build_runtime(settings)
    assert runtime.redis is not None
    try:
        reader = StreamReader(runtime.redis, settings.redis_prefix)
        for _ in range(3):
            assert await reader.read(await reader.tail()) == []
    finally:
        await runtime.close()
