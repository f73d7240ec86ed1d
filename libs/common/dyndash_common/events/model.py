"""The change event as consumers see it (README, "Events"), and what each type means.

Event types fall in two classes, named here and nowhere else:

- state changes: a template, route, dashboard or widget was written. Followers reload that
  entity, live streams forward widget ones, the renderer warms what they affect;
- reports: what a process did (`cache.warmed`, `template.render_failed`). They change nothing
  a follower reads from the database: followers apply a render failure from its payload and
  otherwise ignore them, live streams do not forward them, and no one answers them with more
  render work (which would loop).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, Field

from dyndash_common.db.models import Event

STATE_CHANGES = frozenset(
    f"{kind}.{action}"
    for kind in ("template", "route", "dashboard", "widget")
    for action in ("created", "updated", "deleted")
) | {"widget.data_updated"}
REPORTS = frozenset({"template.render_failed", "cache.warmed"})


class EntityRef(BaseModel):
    kind: str
    id: int


class ChangeEvent(BaseModel):
    id: int
    type: str
    entity: EntityRef
    version: int
    ts: datetime
    payload: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Event) -> ChangeEvent:
        return cls(
            id=row.id,
            type=row.type,
            entity=EntityRef(kind=row.entity_kind, id=row.entity_id),
            version=row.version,
            ts=row.created_at,
            payload=row.payload,
        )

    @property
    def is_report(self) -> bool:
        return self.type in REPORTS

    @property
    def changes_state(self) -> bool:
        return self.type in STATE_CHANGES

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ChangeEvent:
        return cls.model_validate(orjson.loads(raw))
