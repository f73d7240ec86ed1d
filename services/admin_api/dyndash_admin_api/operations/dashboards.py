"""Dashboard and widget writes, including widget data pushes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_admin_api.operations.common import (
    apply_changes,
    changed_fields,
    check_owner,
    forced,
    get_or_404,
    lock_template_graph,
    locked_for_write,
    same_value,
    save_new_version,
)
from dyndash_common.changes import ChangeSet
from dyndash_common.db import Dashboard, Route, Template, Widget, utcnow
from dyndash_common.errors import Conflict, ValidationFailed
from dyndash_common.widgets import WidgetDataError, check_config, check_data


async def _dashboard_name_is_free(
    session: AsyncSession, name: str, renamed: int | None = None
) -> None:
    """Refuse a name taken, also one taken in another case: `Sales` and `sales` would be one
    file on macOS and Windows (README, "Sites as code"). Names are ASCII, so SQL lower() is
    exact on both backends; the template graph lock, which a site apply holds too, keeps two
    writers from each finding the name free (SQLite writes are serial); callers take it
    before any row lock, in the order a site apply takes them."""
    query = select(Dashboard.name).where(func.lower(Dashboard.name) == name.lower())
    if renamed is not None:
        query = query.where(Dashboard.id != renamed)
    taken = (await session.execute(query.limit(1))).scalar_one_or_none()
    if taken == name:
        raise Conflict(f"a dashboard named '{name}' already exists", details={"field": "name"})
    if taken is not None:
        raise Conflict(
            f"a dashboard named '{taken}' already exists; names may not differ only in case "
            "(a site export would make them one file on macOS and Windows)",
            details={"field": "name", "existing": taken},
        )


async def create_dashboard(changes: ChangeSet, fields: dict[str, Any]) -> Dashboard:
    await lock_template_graph(changes.session)
    await _dashboard_name_is_free(changes.session, fields["name"])
    now = utcnow()
    row = Dashboard(**fields, version=1, created_at=now, updated_at=now)
    changes.session.add(row)
    await changes.session.flush()
    await changes.emit("dashboard.created", "dashboard", row.id, 1, {"name": row.name})
    return row


async def update_dashboard(
    changes: ChangeSet,
    dashboard_id: int,
    fields: dict[str, Any],
    *,
    if_match: int | None,
    force: bool = False,
) -> Dashboard:
    if "name" in fields:
        await lock_template_graph(changes.session)
    row = await locked_for_write(changes.session, Dashboard, dashboard_id, if_match, force=force)
    changed = changed_fields(row, fields)
    if not changed:
        return row
    if "name" in changed:
        await _dashboard_name_is_free(changes.session, changed["name"], renamed=row.id)
    if changed.get("is_public") is False:
        await _no_public_route_shows(changes.session, row)
    save_new_version(row, changed)
    await changes.session.flush()
    await changes.emit(
        "dashboard.updated",
        "dashboard",
        row.id,
        row.version,
        {"name": row.name, "changed": sorted(changed), **forced(row, force)},
    )
    return row


async def _no_public_route_shows(session: AsyncSession, row: Dashboard) -> None:
    """A private dashboard behind a public route would be shown to anyone."""
    routes = (
        await session.execute(
            select(Route.path, Route.handler_config).where(Route.dashboard_id == row.id)
        )
    ).all()
    public = sorted(
        path for path, config in routes if (config or {}).get("auth", "public") == "public"
    )
    if public:
        raise Conflict(
            f"dashboard '{row.name}' is shown by public route(s) {', '.join(public)}; give them "
            "auth 'api_key' or point them elsewhere before making the dashboard private",
            details={"field": "is_public", "public_routes": public},
        )


async def delete_dashboard(
    changes: ChangeSet, dashboard_id: int, *, if_match: int | None, force: bool = False
) -> None:
    session = changes.session
    row = await locked_for_write(session, Dashboard, dashboard_id, if_match, force=force)
    paths = (
        (await session.execute(select(Route.path).where(Route.dashboard_id == row.id)))
        .scalars()
        .all()
    )
    if paths:
        raise Conflict(
            f"dashboard '{row.name}' is shown by route(s) {', '.join(paths)}; change them first",
            details={"routes": list(paths)},
        )
    widget_ids = (
        (await session.execute(select(Widget.id).where(Widget.dashboard_id == row.id)))
        .scalars()
        .all()
    )
    await session.delete(row)
    await session.flush()
    await changes.emit(
        "dashboard.deleted",
        "dashboard",
        row.id,
        row.version,
        {"name": row.name, "widget_ids": list(widget_ids), **forced(row, force)},
    )


async def _widget_key_is_free(session: AsyncSession, dashboard_id: int, key: str) -> None:
    taken = await session.execute(
        select(Widget.id).where(Widget.dashboard_id == dashboard_id, Widget.key == key)
    )
    if taken.first():
        raise Conflict(
            f"dashboard {dashboard_id} already has a widget with key '{key}'",
            details={"field": "key"},
        )


async def _check_widget_template(session: AsyncSession, config: dict[str, Any]) -> None:
    """`config.template` names the template a widget's fragment renders with: it must exist.
    The template graph lock keeps a concurrent delete or rename from slipping in between."""
    if "template" not in config:
        return
    name = config["template"]
    if not isinstance(name, str):
        raise ValidationFailed(
            "config.template: must be the name of a template", details={"field": "config.template"}
        )
    await lock_template_graph(session)
    if (await session.execute(select(Template.id).where(Template.name == name))).first() is None:
        raise ValidationFailed(
            f"config.template: template '{name}' does not exist",
            details={"field": "config.template"},
        )


def check_widget(widget_type: str, config: dict[str, Any], data: Any) -> None:
    """The type's data schema and the shared config options (README, "Widgets")."""
    try:
        check_config(config)
        check_data(widget_type, data)
    except WidgetDataError as error:
        raise ValidationFailed(
            f"{error} (widget type '{widget_type}')",
            details={"field": error.path, "type": widget_type},
        ) from None


def _widget_payload(row: Widget) -> dict[str, Any]:
    return {"dashboard_id": row.dashboard_id, "key": row.key, "data_version": row.data_version}


async def create_widget(
    changes: ChangeSet, dashboard_id: int, fields: dict[str, Any], *, force: bool = False
) -> Widget:
    session = changes.session
    dashboard = await get_or_404(session, Dashboard, dashboard_id)
    # A managed dashboard's file lists all its widgets.
    check_owner(dashboard, force)
    await _widget_key_is_free(session, dashboard_id, fields["key"])
    await _check_widget_template(session, fields.get("config", {}))
    check_widget(fields.get("type", "generic"), fields.get("config", {}), fields.get("data", {}))
    if fields.get("position") is None:
        # Creation order: after the dashboard's last widget.
        last = await session.scalar(
            select(func.max(Widget.position)).where(Widget.dashboard_id == dashboard_id)
        )
        fields = {**fields, "position": 0 if last is None else last + 1}
    now = utcnow()
    row = Widget(
        **fields,
        dashboard_id=dashboard_id,
        data_version=1,
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    await changes.emit(
        "widget.created", "widget", row.id, 1, {**_widget_payload(row), **forced(dashboard, force)}
    )
    return row


async def update_widget(
    changes: ChangeSet,
    widget_id: int,
    fields: dict[str, Any],
    *,
    if_match: int | None,
    force: bool = False,
) -> Widget:
    row = await locked_for_write(changes.session, Widget, widget_id, if_match, force=force)
    changed = changed_fields(row, fields)
    if not changed:
        return row
    if "key" in changed:
        await _widget_key_is_free(changes.session, row.dashboard_id, changed["key"])
    if "config" in changed:
        await _check_widget_template(changes.session, changed["config"])
    if "type" in changed or "config" in changed:
        # A new type re-checks the stored data against its schema.
        check_widget(changed.get("type", row.type), changed.get("config", row.config), row.data)
    save_new_version(row, changed)
    await changes.session.flush()
    await changes.emit(
        "widget.updated",
        "widget",
        row.id,
        row.version,
        {**_widget_payload(row), **forced(row, force)},
    )
    return row


async def delete_widget(
    changes: ChangeSet, widget_id: int, *, if_match: int | None, force: bool = False
) -> None:
    row = await locked_for_write(changes.session, Widget, widget_id, if_match, force=force)
    await changes.session.delete(row)
    await changes.session.flush()
    await changes.emit(
        "widget.deleted",
        "widget",
        row.id,
        row.version,
        {**_widget_payload(row), **forced(row, force)},
    )


async def push_widget_data(changes: ChangeSet, widget_id: int, data: Any) -> Widget:
    """Store new data under a new data_version; the same data again is not a new version."""
    row = await get_or_404(changes.session, Widget, widget_id, lock=True)
    check_widget(row.type, row.config, data)
    if same_value(row.data, data):
        return row
    apply_changes(row, {"data": data})
    row.data_version += 1
    row.updated_at = utcnow()
    await changes.session.flush()
    await changes.emit(
        "widget.data_updated", "widget", row.id, row.data_version, _widget_payload(row)
    )
    return row
