"""The `site.applied` batch: its parts, the whole-graph cycle check, and a follower that
installs a batch at once before telling its listeners of each part."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dyndash_common.db import Database, create_engine
from dyndash_common.events import ChangeEvent, EntityRef
from dyndash_common.site import SiteState, StateFollower, find_cycle
from tests.utils.backends import Backend


def batch(changes: list[dict[str, Any]]) -> ChangeEvent:
    return ChangeEvent(
        id=9,
        type="site.applied",
        entity=EntityRef(kind="site", id=0),
        version=9,
        ts=datetime.now(UTC),
        payload={"changes": changes},
    )


def test_a_batch_is_its_parts_and_a_single_event_is_itself() -> None:
    event = batch(
        [
            {
                "type": "template.updated",
                "entity": {"kind": "template", "id": 3},
                "version": 2,
                "payload": {"name": "home"},
            },
            {"type": "route.created", "entity": {"kind": "route", "id": 1}, "version": 1},
        ]
    )
    assert event.is_batch
    assert event.changes_state
    parts = event.parts()
    assert [(p.type, p.entity.id, p.version, p.id) for p in parts] == [
        ("template.updated", 3, 2, 9),
        ("route.created", 1, 1, 9),
    ]
    assert parts[0].payload == {"name": "home"}
    assert parts[0].parts() == [parts[0]]


def test_find_cycle_names_the_path_around() -> None:
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": ["x"]}) == ["x", "x"]
    # A long chain is walked without recursion.
    chain = {f"t{i}": [f"t{i + 1}"] for i in range(5000)}
    assert find_cycle(chain) is None
    chain["t5000"] = ["t0"]
    cycle = find_cycle(chain)
    assert cycle is not None
    assert cycle[0] == cycle[-1]


async def test_a_follower_installs_a_batch_then_tells_each_part(backend: Backend) -> None:
    database = Database(create_engine(backend.settings.database_url))
    state = SiteState()
    follower = StateFollower(state, database, on_gap=lambda: None, resync_seconds=60)
    told: list[tuple[str, bool]] = []
    # A listener sees the whole batch installed already, even at its first part.
    follower.listeners.append(lambda part: told.append((part.type, state.loaded)))
    try:
        await follower.apply(
            batch(
                [
                    {
                        "type": "template.created",
                        "entity": {"kind": "template", "id": 1},
                        "version": 1,
                    },
                    {"type": "route.created", "entity": {"kind": "route", "id": 1}, "version": 1},
                ]
            )
        )
    finally:
        await database.dispose()
    assert told == [("template.created", True), ("route.created", True)]
