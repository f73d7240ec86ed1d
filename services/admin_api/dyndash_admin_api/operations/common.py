"""Helpers every resource's write path shares: locked reads, If-Match, pagination."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_common.errors import NotFound, PreconditionFailed

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
