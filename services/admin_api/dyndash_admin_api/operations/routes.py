"""Route writes: the template and dashboard they name must exist, paths are unique, and a
public route shows only a public dashboard."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_admin_api.operations.common import (
    changed_fields,
    forced,
    locked_for_write,
    save_new_version,
)
from dyndash_common.changes import ChangeSet
from dyndash_common.db import Dashboard, Route, Template, utcnow
from dyndash_common.errors import Conflict, ValidationFailed


async def _check_references(
    session: AsyncSession, template_id: int | None, handler_config: dict[str, Any]
) -> None:
    if template_id is None:
        if handler_config.get("dashboard_id") is None:
            raise ValidationFailed(
                "template_id: a route without a template renders the built-in dashboard "
                "layout, so it needs handler_config.dashboard_id",
                details={"field": "template_id"},
            )
    elif await session.get(Template, template_id) is None:
        raise ValidationFailed(
            f"template_id: template {template_id} does not exist",
            details={"field": "template_id"},
        )
    dashboard_id = handler_config.get("dashboard_id")
    if dashboard_id is None:
        return
    # Locked, so the dashboard cannot turn private between this check and the commit.
    dashboard = (
        await session.execute(
            select(Dashboard).where(Dashboard.id == dashboard_id).with_for_update()
        )
    ).scalar_one_or_none()
    if dashboard is None:
        raise ValidationFailed(
            f"handler_config.dashboard_id: dashboard {dashboard_id} does not exist",
            details={"field": "handler_config.dashboard_id"},
        )
    if not dashboard.is_public and handler_config.get("auth", "public") == "public":
        raise ValidationFailed(
            f"handler_config.auth: dashboard {dashboard_id} is not public, so a route showing "
            "it needs auth 'api_key' (or make the dashboard public)",
            details={"field": "handler_config.auth", "dashboard_id": dashboard_id},
        )


async def _path_is_free(session: AsyncSession, path: str) -> None:
    if (await session.execute(select(Route.id).where(Route.path == path))).first():
        raise Conflict(f"a route with path '{path}' already exists", details={"field": "path"})


def _payload(row: Route) -> dict[str, Any]:
    return {"path": row.path, "template_id": row.template_id, "dashboard_id": row.dashboard_id}


async def create_route(changes: ChangeSet, fields: dict[str, Any]) -> Route:
    session = changes.session
    dashboard_id = fields["handler_config"].get("dashboard_id")
    await _check_references(session, fields.get("template_id"), fields["handler_config"])
    await _path_is_free(session, fields["path"])
    now = utcnow()
    row = Route(**fields, dashboard_id=dashboard_id, version=1, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    await changes.emit("route.created", "route", row.id, 1, _payload(row))
    return row


async def update_route(
    changes: ChangeSet,
    route_id: int,
    fields: dict[str, Any],
    *,
    if_match: int | None,
    force: bool = False,
) -> Route:
    session = changes.session
    row = await locked_for_write(session, Route, route_id, if_match, force=force)
    changed = changed_fields(row, fields)
    if not changed:
        return row
    if "path" in changed:
        await _path_is_free(session, changed["path"])
    handler_config = changed.get("handler_config", row.handler_config)
    await _check_references(session, changed.get("template_id", row.template_id), handler_config)
    previous_path = row.path
    save_new_version(row, changed)
    row.dashboard_id = handler_config.get("dashboard_id")
    await session.flush()
    await changes.emit(
        "route.updated",
        "route",
        row.id,
        row.version,
        {**_payload(row), "previous_path": previous_path, **forced(row, force)},
    )
    return row


async def delete_route(
    changes: ChangeSet, route_id: int, *, if_match: int | None, force: bool = False
) -> None:
    row = await locked_for_write(changes.session, Route, route_id, if_match, force=force)
    await changes.session.delete(row)
    await changes.session.flush()
    await changes.emit(
        "route.deleted", "route", row.id, row.version, {**_payload(row), **forced(row, force)}
    )
