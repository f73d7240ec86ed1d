"""/api/v1/templates: CRUD, version history, rollback and preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from dyndash_admin_api.deps import (
    CurrentKey,
    EntityId,
    IfMatch,
    Limit,
    Offset,
    RenderPoolDep,
    RuntimeDep,
    TemplatesWriter,
    set_etag,
)
from dyndash_admin_api.operations import templates as operations
from dyndash_admin_api.operations.common import get_or_404, paginate
from dyndash_admin_api.responses import errors
from dyndash_admin_api.schemas.common import Page
from dyndash_admin_api.schemas.templates import (
    PreviewResult,
    TemplateCreate,
    TemplatePreview,
    TemplatePublic,
    TemplateRollback,
    TemplateSummary,
    TemplateUpdate,
    TemplateVersionPublic,
    TemplateVersionSummary,
)
from dyndash_common.changes import change
from dyndash_common.db.models import Template, TemplateVersion
from dyndash_common.envelope import Envelope, success
from dyndash_common.errors import NotFound, RenderFailed
from dyndash_common.templating.meter import BudgetExceeded
from dyndash_common.templating.pool import RenderError, RenderJob, source_key

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


def _public(row: Template) -> dict[str, Any]:
    return TemplatePublic.model_validate(row).model_dump()


@router.get("", response_model=Envelope[Page[TemplateSummary]], responses=errors())
async def list_templates(
    *,
    runtime: RuntimeDep,
    _key: CurrentKey,
    limit: Limit = 50,
    offset: Offset = 0,
    name: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
) -> dict[str, Any]:
    query = select(Template).order_by(Template.id)
    if name is not None:
        query = query.where(Template.name == name)
    async with runtime.database.read() as session:
        rows, total = await paginate(session, query, limit, offset)
    items = [TemplateSummary.model_validate(row).model_dump() for row in rows]
    return success({"items": items, "total": total, "limit": limit, "offset": offset})


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TemplatePublic],
    responses=errors(403, 409, 413, 422),
)
async def create_template(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    key: TemplatesWriter,
    body: TemplateCreate,
    response: Response,
) -> dict[str, Any]:
    fields = body.model_dump(exclude={"message"})
    async with change(runtime) as changes:
        row = await operations.create_template(changes, fields, key, body.message, compiler=pool)
    set_etag(response, row.version)
    return success(_public(row), "template created")


@router.post("/preview", response_model=Envelope[PreviewResult], responses=errors(403, 413, 422))
async def preview_template(
    *, runtime: RuntimeDep, pool: RenderPoolDep, _key: TemplatesWriter, body: TemplatePreview
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        sources = await operations.preview_sources(session, body.html_content, pool)
    job = RenderJob(
        name=operations.PREVIEW_NAME,
        sources={name: (source_key(text), text) for name, text in sources.items()},
        context={**body.context, "css": body.css_content, "js": body.js_content},
    )
    try:
        html = await pool.render(job)
    except BudgetExceeded as error:
        raise RenderFailed(f"preview stopped: {error}", details={"reason": "budget"}) from None
    except RenderError as error:
        raise RenderFailed(f"preview failed: {error}", details={"reason": "error"}) from None
    return success({"html": html})


@router.get("/{template_id}", response_model=Envelope[TemplatePublic], responses=errors(404))
async def get_template(
    *, runtime: RuntimeDep, _key: CurrentKey, template_id: EntityId, response: Response
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        row = await get_or_404(session, Template, template_id)
    set_etag(response, row.version)
    return success(_public(row))


@router.put(
    "/{template_id}",
    response_model=Envelope[TemplatePublic],
    responses=errors(400, 403, 404, 409, 412, 413, 422),
)
async def update_template(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    key: TemplatesWriter,
    template_id: EntityId,
    body: TemplateUpdate,
    if_match: IfMatch,
    response: Response,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"message"})
    async with change(runtime) as changes:
        row = await operations.update_template(
            changes,
            template_id,
            fields,
            if_match=if_match,
            author=key,
            message=body.message,
            compiler=pool,
        )
    set_etag(response, row.version)
    return success(_public(row))


@router.delete(
    "/{template_id}", response_model=Envelope[None], responses=errors(400, 403, 404, 409, 412)
)
async def delete_template(
    *, runtime: RuntimeDep, _key: TemplatesWriter, template_id: EntityId, if_match: IfMatch
) -> dict[str, Any]:
    async with change(runtime) as changes:
        await operations.delete_template(changes, template_id, if_match=if_match)
    return success(None, f"template {template_id} deleted")


@router.get(
    "/{template_id}/versions",
    response_model=Envelope[Page[TemplateVersionSummary]],
    responses=errors(404),
)
async def list_versions(
    *,
    runtime: RuntimeDep,
    _key: CurrentKey,
    template_id: EntityId,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    query = (
        select(TemplateVersion)
        .where(TemplateVersion.template_id == template_id)
        .order_by(TemplateVersion.version.desc())
    )
    async with runtime.database.read() as session:
        await get_or_404(session, Template, template_id)
        rows, total = await paginate(session, query, limit, offset)
    items = [TemplateVersionSummary.model_validate(row).model_dump() for row in rows]
    return success({"items": items, "total": total, "limit": limit, "offset": offset})


@router.get(
    "/{template_id}/versions/{version}",
    response_model=Envelope[TemplateVersionPublic],
    responses=errors(404),
)
async def get_version(
    *, runtime: RuntimeDep, _key: CurrentKey, template_id: EntityId, version: EntityId
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        row = (
            await session.execute(
                select(TemplateVersion).where(
                    TemplateVersion.template_id == template_id, TemplateVersion.version == version
                )
            )
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"template {template_id} has no version {version}")
    return success(TemplateVersionPublic.model_validate(row).model_dump())


@router.post(
    "/{template_id}/rollback",
    response_model=Envelope[TemplatePublic],
    responses=errors(400, 403, 404, 412, 422),
)
async def rollback_template(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    key: TemplatesWriter,
    template_id: EntityId,
    body: TemplateRollback,
    if_match: IfMatch,
    response: Response,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.rollback_template(
            changes,
            template_id,
            body.version,
            if_match=if_match,
            author=key,
            message=body.message,
            compiler=pool,
        )
    set_etag(response, row.version)
    return success(
        _public(row), f"content of version {body.version} restored as version {row.version}"
    )
