"""The change event as consumers see it (DESIGN.md, "Contract: logs and events")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from dyndash_common.db.models import Event

EntityKind = Literal["template", "route", "dashboard", "widget", "api_key", "cache"]
# Reports of work done, not changes: a follower applies them without reading the database
# (a render failure carries all it needs), and live streams do not forward them.
REPORT_TYPES = frozenset({"template.render_failed", "cache.warmed"})


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
        return self.type in REPORT_TYPES

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ChangeEvent:
        return cls.model_validate(orjson.loads(raw))
