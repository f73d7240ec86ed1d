"""/api/v1/templates: CRUD, version history, rollback and preview."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select
from starlette.exceptions import HTTPException

from dyndash_admin_api.deps import (
    CurrentKey,
    EntityId,
    Force,
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
from dyndash_admin_api.responses import answers
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
from dyndash_common.db import Template, TemplateVersion
from dyndash_common.envelope import Envelope, success
from dyndash_common.errors import BudgetExceeded, NotFound, RenderError, RenderFailed
from dyndash_common.templating import RenderJob, source_key

# What a 422 may refuse that the template schemas allow (README, "Bad input").
SOURCE_RULES = (
    "source that does not compile (the message gives the line), an include of a template that "
    "does not exist, an include cycle; an integer past 64 bits in config"
)
PREVIEW_RULES = (
    "source that does not compile or fails to render; an integer past 64 bits in context"
)
ROLLBACK_RULES = (
    "a version whose source no longer compiles against the other templates (an include of one "
    "since deleted, or a cycle)"
)

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


def _public(row: Template) -> dict[str, Any]:
    return TemplatePublic.model_validate(row).model_dump()


@router.get(
    "",
    operation_id="templates_list",
    response_model=Envelope[Page[TemplateSummary]],
    responses=answers(),
)
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
    operation_id="templates_create",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[TemplatePublic],
    responses=answers(400, 403, 409, 413, success=201, etag=True, beyond_schema=SOURCE_RULES),
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


@router.post(
    "/preview",
    operation_id="templates_preview",
    response_model=Envelope[PreviewResult],
    responses=answers(400, 403, 413, beyond_schema=PREVIEW_RULES),
)
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


@router.api_route(
    "/preview", methods=["GET", "PUT", "DELETE"], include_in_schema=False, response_model=None
)
async def preview_other_methods() -> NoReturn:
    """A path without parameters wins over /{template_id} (OpenAPI's matching rule), so other
    methods here are a 405 naming POST, not a request about template "preview"."""
    raise HTTPException(405)


@router.get(
    "/{template_id}",
    operation_id="templates_get",
    response_model=Envelope[TemplatePublic],
    responses=answers(404, etag=True),
)
async def get_template(
    *, runtime: RuntimeDep, _key: CurrentKey, template_id: EntityId, response: Response
) -> dict[str, Any]:
    async with runtime.database.read() as session:
        row = await get_or_404(session, Template, template_id)
    set_etag(response, row.version)
    return success(_public(row))


@router.put(
    "/{template_id}",
    operation_id="templates_update",
    response_model=Envelope[TemplatePublic],
    responses=answers(400, 403, 404, 409, 412, 413, etag=True, beyond_schema=SOURCE_RULES),
)
async def update_template(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    key: TemplatesWriter,
    template_id: EntityId,
    body: TemplateUpdate,
    if_match: IfMatch,
    force: Force = False,
    response: Response,
) -> dict[str, Any]:
    fields = body.model_dump(exclude_unset=True, exclude={"message"})
    async with change(runtime) as changes:
        row = await operations.update_template(
            changes,
            template_id,
            fields,
            if_match=if_match,
            force=force,
            author=key,
            message=body.message,
            compiler=pool,
        )
    set_etag(response, row.version)
    return success(_public(row))


@router.delete(
    "/{template_id}",
    operation_id="templates_delete",
    response_model=Envelope[None],
    responses=answers(400, 403, 404, 409, 412),
)
async def delete_template(
    *,
    runtime: RuntimeDep,
    _key: TemplatesWriter,
    template_id: EntityId,
    if_match: IfMatch,
    force: Force = False,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        await operations.delete_template(changes, template_id, if_match=if_match, force=force)
    return success(None, f"template {template_id} deleted")


@router.get(
    "/{template_id}/versions",
    operation_id="template_versions_list",
    response_model=Envelope[Page[TemplateVersionSummary]],
    responses=answers(404),
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
    operation_id="template_versions_get",
    response_model=Envelope[TemplateVersionPublic],
    responses=answers(404),
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
    operation_id="templates_rollback",
    response_model=Envelope[TemplatePublic],
    responses=answers(400, 403, 404, 409, 412, 413, etag=True, beyond_schema=ROLLBACK_RULES),
)
async def rollback_template(
    *,
    runtime: RuntimeDep,
    pool: RenderPoolDep,
    key: TemplatesWriter,
    template_id: EntityId,
    body: TemplateRollback,
    if_match: IfMatch,
    force: Force = False,
    response: Response,
) -> dict[str, Any]:
    async with change(runtime) as changes:
        row = await operations.rollback_template(
            changes,
            template_id,
            body.version,
            if_match=if_match,
            force=force,
            author=key,
            message=body.message,
            compiler=pool,
        )
    set_etag(response, row.version)
    return success(
        _public(row), f"content of version {body.version} restored as version {row.version}"
    )
