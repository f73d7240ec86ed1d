"""/api/v1/dashboards, their widgets, /api/v1/widgets and the widget data push."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from dyndash_admin_api.deps import (
    CurrentKey,
    DashboardsWriter,
    DataWriter,
    EntityId,
    Force,
    IfMatch,
    Limit,
    Offset,
    RuntimeDep,
    set_etag,
)
from dyndash_admin_api.operations import dashboards as operations
from dyndash_admin_api.operations.common import get_or_404, paginate
from dyndash_admin_api.responses import answers
from dyndash_admin_api.schemas.common import Page
from dyndash_admin_api.schemas.dashboards import (
    DashboardCreate,
    DashboardPublic,
    DashboardUpdate,
    WidgetCreate,
    WidgetData,
    WidgetPublic,
    WidgetUpdate,
)
from dyndash_common.changes import change
from dyndash_common.db import Dashboard, Widget
from dyndash_common.envelope import Envelope, success

# What a 422 may refuse that the widget schemas allow (README, "Widgets and the built-in
# layout"): each type's data and config rules depend on the type named.
WIDGET_RULES = (
    "config or data that does not fit the widget's type (the message starts with the JSON "
    "path); a config.template naming no template; an integer past 64 bits in config or data"
)
DATA_RULES = (
    "data that does not fit the widget's type (the message starts with the JSON path); an "
    "integer past 64 bits"
)

router = APIRouter(tags=["dashboards"])


def _dashboard(row: Dashboard) -> dict[str, Any]:
    return DashboardPublic.model_validate(row).model_dump()


def _widget(row: Widget) -> dict[str, Any]:
    return WidgetPublic.model_validate(row).model_dump()


@router.get(
    "/api/v1/dashboards",
    operation_id="dashboards_list",
    response_model=Envelope[Page[DashboardPublic]],
    responses=answers(),
)
async def list_dashboards(
    *, runtime: RuntimeDep, _key: CurrentKey, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        rows, total = await paginate(
            session, select(Dashboard).order_by(Dashboard.id), limit, offset
        )
    return success(
        {"items": [_dashboard(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    )


@router.post(
    "/api/v1/dashboards",
    operation_id="dashboards_create",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[DashboardPublic],
    responses=answers(400, 403, 409, 413, success=201, etag=True),
)
async def create_dashboard(
    *, runtime: RuntimeDep, _key: DashboardsWriter, body: DashboardCreate, response: Response
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.create_dashboard(changes, body.model_dump())
    set_etag(response, row.version)
    return success(_dashboard(row), "dashboard created")


@router.get(
    "/api/v1/dashboards/{dashboard_id}",
    operation_id="dashboards_get",
    response_model=Envelope[DashboardPublic],
    responses=answers(404, etag=True),
)
async def get_dashboard(
    *, runtime: RuntimeDep, _key: CurrentKey, dashboard_id: EntityId, response: Response
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        row = await get_or_404(session, Dashboard, dashboard_id)
    set_etag(response, row.version)
    return success(_dashboard(row))


@router.put(
    "/api/v1/dashboards/{dashboard_id}",
    operation_id="dashboards_update",
    response_model=Envelope[DashboardPublic],
    responses=answers(400, 403, 404, 409, 412, 413, etag=True),
)
async def update_dashboard(
    *,
    runtime: RuntimeDep,
    _key: DashboardsWriter,
    dashboard_id: EntityId,
    body: DashboardUpdate,
    if_match: IfMatch,
    force: Force = False,
    response: Response,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.update_dashboard(
            changes,
            dashboard_id,
            body.model_dump(exclude_unset=True),
            if_match=if_match,
            force=force,
        )
    set_etag(response, row.version)
    return success(_dashboard(row))


@router.delete(
    "/api/v1/dashboards/{dashboard_id}",
    operation_id="dashboards_delete",
    response_model=Envelope[None],
    responses=answers(400, 403, 404, 409, 412),
)
async def delete_dashboard(
    *,
    runtime: RuntimeDep,
    _key: DashboardsWriter,
    dashboard_id: EntityId,
    if_match: IfMatch,
    force: Force = False,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        await operations.delete_dashboard(changes, dashboard_id, if_match=if_match, force=force)
    return success(None, f"dashboard {dashboard_id} deleted")


@router.get(
    "/api/v1/dashboards/{dashboard_id}/widgets",
    operation_id="widgets_list",
    response_model=Envelope[Page[WidgetPublic]],
    responses=answers(404),
)
async def list_widgets(
    *,
    runtime: RuntimeDep,
    _key: CurrentKey,
    dashboard_id: EntityId,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = select(Widget).where(Widget.dashboard_id == dashboard_id).order_by(Widget.id)
    async with runtime.database.read() as session:
        await get_or_404(session, Dashboard, dashboard_id)
        rows, total = await paginate(session, query, limit, offset)
    return success(
        {"items": [_widget(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    )


@router.post(
    "/api/v1/dashboards/{dashboard_id}/widgets",
    operation_id="widgets_create",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[WidgetPublic],
    responses=answers(400, 403, 404, 409, 413, success=201, etag=True, beyond_schema=WIDGET_RULES),
)
async def create_widget(
    *,
    runtime: RuntimeDep,
    _key: DashboardsWriter,
    dashboard_id: EntityId,
    body: WidgetCreate,
    response: Response,
    force: Force = False,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.create_widget(changes, dashboard_id, body.model_dump(), force=force)
    set_etag(response, row.version)
    return success(_widget(row), "widget created")


@router.get(
    "/api/v1/widgets/{widget_id}",
    operation_id="widgets_get",
    response_model=Envelope[WidgetPublic],
    responses=answers(404, etag=True),
)
async def get_widget(
    *, runtime: RuntimeDep, _key: CurrentKey, widget_id: EntityId, response: Response
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        row = await get_or_404(session, Widget, widget_id)
    set_etag(response, row.version)
    return success(_widget(row))


@router.put(
    "/api/v1/widgets/{widget_id}",
    operation_id="widgets_update",
    response_model=Envelope[WidgetPublic],
    responses=answers(400, 403, 404, 409, 412, 413, etag=True, beyond_schema=WIDGET_RULES),
)
async def update_widget(
    *,
    runtime: RuntimeDep,
    _key: DashboardsWriter,
    widget_id: EntityId,
    body: WidgetUpdate,
    if_match: IfMatch,
    force: Force = False,
    response: Response,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.update_widget(
            changes, widget_id, body.model_dump(exclude_unset=True), if_match=if_match, force=force
        )
    set_etag(response, row.version)
    return success(_widget(row))


@router.delete(
    "/api/v1/widgets/{widget_id}",
    operation_id="widgets_delete",
    response_model=Envelope[None],
    responses=answers(400, 403, 404, 409, 412),
)
async def delete_widget(
    *,
    runtime: RuntimeDep,
    _key: DashboardsWriter,
    widget_id: EntityId,
    if_match: IfMatch,
    force: Force = False,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        await operations.delete_widget(changes, widget_id, if_match=if_match, force=force)
    return success(None, f"widget {widget_id} deleted")


@router.post(
    "/api/v1/data/widget/{widget_id}",
    operation_id="widget_data_push",
    response_model=Envelope[WidgetPublic],
    responses=answers(400, 403, 404, 413, beyond_schema=DATA_RULES),
)
async def push_widget_data(
    *, runtime: RuntimeDep, _key: DataWriter, widget_id: EntityId, body: WidgetData
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.push_widget_data(changes, widget_id, body.data)
    return success(_widget(row), f"data version {row.data_version}")
