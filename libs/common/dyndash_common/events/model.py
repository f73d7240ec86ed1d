"""The change event as consumers see it (README, "Events"), and what each type means.

Event types fall in two classes, named here and nowhere else:

- state changes: a template, route, dashboard or widget was written. Followers reload that
  entity, live streams forward widget ones, the renderer warms what they affect;
- reports: what a process did (`cache.warmed`, `template.render_failed`). They change nothing
  a follower reads from the database: followers apply a render failure from its payload and
  otherwise ignore them, live streams do not forward them, and no one answers them with more
  render work (which would loop);
- the batch `site.applied`: every change of one site apply (README, "Sites as code"), listed in
  its payload (`changes`: type, entity, version, payload of each). Followers read the whole
  state and install it at once, then tell their listeners of each part (`parts()`); the
  renderer warms the union of what the parts affect. Its entity is `{"kind": "site", "id": 0}`
  and its version is its own event id.
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
) | {"widget.data_updated", "site.applied"}
SITE_APPLIED = "site.applied"
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

    @property
    def is_batch(self) -> bool:
        return self.type == SITE_APPLIED

    def parts(self) -> list[ChangeEvent]:
        """The single changes this event stands for: a batch's listed changes, else itself."""
        if not self.is_batch:
            return [self]
        return [
            ChangeEvent(
                id=self.id,
                type=str(change["type"]),
                entity=EntityRef.model_validate(change["entity"]),
                version=int(change["version"]),
                ts=self.ts,
                payload=dict(change.get("payload") or {}),
            )
            for change in self.payload.get("changes", [])
        ]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> ChangeEvent:
        return cls.model_validate(orjson.loads(raw))
