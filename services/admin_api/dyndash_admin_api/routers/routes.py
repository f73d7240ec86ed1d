"""/api/v1/routes: which template serves which URL path, with its handler_config."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from dyndash_admin_api.deps import (
    CurrentKey,
    EntityId,
    Force,
    IfMatch,
    Limit,
    Offset,
    RoutesWriter,
    RuntimeDep,
    set_etag,
)
from dyndash_admin_api.operations import routes as operations
from dyndash_admin_api.operations.common import get_or_404, paginate
from dyndash_admin_api.responses import answers
from dyndash_admin_api.schemas.common import Page
from dyndash_admin_api.schemas.routes import RouteCreate, RoutePublic, RouteUpdate
from dyndash_common.changes import change
from dyndash_common.db import Route
from dyndash_common.envelope import Envelope, success

# What a 422 may refuse that the route schemas allow (README, "Bad input").
REFERENCES = (
    "neither a template_id nor a handler_config.dashboard_id, or either naming nothing; a "
    "public route showing a private dashboard; an integer past 64 bits in handler_config.context"
)

router = APIRouter(prefix="/api/v1/routes", tags=["routes"])


def _public(row: Route) -> dict[str, Any]:
    return RoutePublic.model_validate(row).model_dump()


@router.get(
    "",
    operation_id="routes_list",
    response_model=Envelope[Page[RoutePublic]],
    responses=answers(),
)
async def list_routes(
    *, runtime: RuntimeDep, _key: CurrentKey, limit: Limit = 50, offset: Offset = 0
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        rows, total = await paginate(session, select(Route).order_by(Route.id), limit, offset)
    return success(
        {"items": [_public(row) for row in rows], "total": total, "limit": limit, "offset": offset}
    )


@router.post(
    "",
    operation_id="routes_create",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[RoutePublic],
    responses=answers(400, 403, 409, 413, success=201, etag=True, beyond_schema=REFERENCES),
)
async def create_route(
    *, runtime: RuntimeDep, _key: RoutesWriter, body: RouteCreate, response: Response
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.create_route(changes, body.model_dump())
    set_etag(response, row.version)
    return success(_public(row), "route created")


@router.get(
    "/{route_id}",
    operation_id="routes_get",
    response_model=Envelope[RoutePublic],
    responses=answers(404, etag=True),
)
async def get_route(
    *, runtime: RuntimeDep, _key: CurrentKey, route_id: EntityId, response: Response
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        row = await get_or_404(session, Route, route_id)
    set_etag(response, row.version)
    return success(_public(row))


@router.put(
    "/{route_id}",
    operation_id="routes_update",
    response_model=Envelope[RoutePublic],
    responses=answers(400, 403, 404, 409, 412, 413, etag=True, beyond_schema=REFERENCES),
)
async def update_route(
    *,
    runtime: RuntimeDep,
    _key: RoutesWriter,
    route_id: EntityId,
    body: RouteUpdate,
    if_match: IfMatch,
    force: Force = False,
    response: Response,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.update_route(
            changes, route_id, body.model_dump(exclude_unset=True), if_match=if_match, force=force
        )
    set_etag(response, row.version)
    return success(_public(row))


@router.delete(
    "/{route_id}",
    operation_id="routes_delete",
    response_model=Envelope[None],
    responses=answers(400, 403, 404, 409, 412),
)
async def delete_route(
    *,
    runtime: RuntimeDep,
    _key: RoutesWriter,
    route_id: EntityId,
    if_match: IfMatch,
    force: Force = False,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        await operations.delete_route(changes, route_id, if_match=if_match, force=force)
    return success(None, f"route {route_id} deleted")
