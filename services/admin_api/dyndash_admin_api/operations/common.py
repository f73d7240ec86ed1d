"""Helpers every resource's write path shares: locked reads at the If-Match version, new
versions, pagination."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from dyndash_common import jsondoc
from dyndash_common.db import utcnow
from dyndash_common.errors import Conflict, NotFound, PreconditionFailed

M = TypeVar("M")


async def get_or_404(
    session: AsyncSession, model: type[M], entity_id: int, *, lock: bool = False
) -> M:
    query = select(model).where(model.id == entity_id)  # type: ignore[attr-defined]
    if lock:
        # Row lock on PostgreSQL so concurrent writers queue; SQLite writes are already serial.
        query = query.with_for_update()
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"{model.__name__.lower()} {entity_id} does not exist")
    return row


def changed_fields(row: object, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields whose new value differs from the row's, compared as JSON documents: in Python
    `1 == 1.0 == True`, and a change from one to another must not be lost."""
    return {key: value for key, value in fields.items() if not same_value(getattr(row, key), value)}


def apply_changes(row: object, changed: dict[str, Any]) -> None:
    """Set the changed fields, and tell the ORM they changed even when the old value compares
    equal in Python ({"a": True} == {"a": 1.0}), or it would not write them."""
    for key, value in changed.items():
        setattr(row, key, value)
        flag_modified(row, key)


def same_value(current: Any, new: Any) -> bool:
    if type(current) is not type(new):
        return False
    if isinstance(new, dict | list):
        return _canonical(current) == _canonical(new)
    return bool(current == new)


def _canonical(value: Any) -> bytes:
    return jsondoc.dumps(value, sort_keys=True)


# Any constant shared by the template writers; see lock_template_graph.
_TEMPLATE_GRAPH_LOCK = 7243003


async def lock_template_graph(session: AsyncSession) -> None:
    """Serialise template writes on PostgreSQL: each checks the include graph (cycles, unknown
    or still-used names) and must see the others' committed changes. SQLite writes are serial."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TEMPLATE_GRAPH_LOCK}
        )


class Versioned(Protocol):
    id: Any
    version: Any
    updated_at: Any


V = TypeVar("V", bound=Versioned)


async def locked_for_write(
    session: AsyncSession,
    model: type[V],
    entity_id: int,
    if_match: int | None,
    *,
    force: bool = False,
) -> V:
    """The row to update or delete: locked, at the version If-Match names (else 412), and not
    managed by files unless forced (else 409)."""
    row = await get_or_404(session, model, entity_id, lock=True)
    check_if_match(if_match, row.version)
    check_owner(row, force)
    return row


def check_owner(row: object, force: bool) -> None:
    """Objects a site apply wrote belong to the site's files (README, "Sites as code"): an
    admin API write would be undone by the next apply, so it needs `?force=true`."""
    owner = getattr(row, "managed_by", None)
    if owner is not None and not force:
        kind = type(row).__name__.lower()
        raise Conflict(
            f"{kind} {getattr(row, 'id', '')} is managed by {owner} (a site apply): change it "
            "in the site's files and apply them, or send ?force=true to write it anyway (the "
            "next apply puts the files' content back)",
            details={"managed_by": owner},
        )


def forced(row: object, force: bool) -> dict[str, Any]:
    """What an event records of a forced write to a managed object."""
    return {"forced": True} if force and getattr(row, "managed_by", None) is not None else {}


def save_new_version(row: Versioned, changed: dict[str, Any]) -> None:
    """Apply `changed` to the row as its next version."""
    apply_changes(row, changed)
    row.version += 1
    row.updated_at = utcnow()


def check_if_match(if_match: int | None, current_version: int) -> None:
    if if_match is not None and if_match != current_version:
        raise PreconditionFailed(
            f"If-Match names version {if_match} but the current version is {current_version}; "
            "fetch the resource again and reapply your change",
            details={"expected": if_match, "current": current_version},
        )


async def paginate(
    session: AsyncSession, query: Select[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total)
