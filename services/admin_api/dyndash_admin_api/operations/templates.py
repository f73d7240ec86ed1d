"""Template writes: validation, versioning, rollback, deletion guards."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_admin_api.operations.common import (
    changed_fields,
    forced,
    get_or_404,
    lock_template_graph,
    locked_for_write,
    save_new_version,
)
from dyndash_common.changes import ChangeSet
from dyndash_common.db import ApiKey, Route, Template, TemplateVersion, Widget, utcnow
from dyndash_common.errors import Conflict, NotFound, TemplateInvalid
from dyndash_common.site import closes_cycle, reach, reversed_edges
from dyndash_common.templating import TemplateCompiler, check_references

CONTENT_FIELDS = ("description", "html_content", "css_content", "js_content", "config")
PREVIEW_NAME = "__preview__"


async def dependency_map(session: AsyncSession) -> dict[str, list[str]]:
    rows = await session.execute(select(Template.name, Template.dependencies))
    return {name: list(dependencies) for name, dependencies in rows.all()}


def _check_graph(name: str, references: Collection[str], graph: dict[str, list[str]]) -> None:
    """Refuse references to unknown templates and any include cycle through `name`."""
    check_references(references, set(graph) | {name})
    if name in references:
        raise TemplateInvalid(f"html_content: template '{name}' may not include itself")
    if closes_cycle(graph, name, references):
        raise TemplateInvalid(
            f"html_content: this would create an include cycle back to '{name}'",
            details={"field": "html_content"},
        )


async def _name_is_free(session: AsyncSession, name: str, renamed: int | None = None) -> None:
    """Refuse a name taken, also one taken in another case: `Report` and `report` would be one
    file on macOS and Windows (README, "Sites as code"). Names are ASCII, so SQL lower() is
    exact on both backends; the template graph lock, held by every template write and site
    apply, keeps two writers from each finding the name free."""
    query = select(Template.name).where(func.lower(Template.name) == name.lower())
    if renamed is not None:
        query = query.where(Template.id != renamed)
    taken = (await session.execute(query.limit(1))).scalar_one_or_none()
    if taken == name:
        raise Conflict(f"a template named '{name}' already exists", details={"field": "name"})
    if taken is not None:
        raise Conflict(
            f"a template named '{taken}' already exists; names may not differ only in case "
            "(a site export would make them one file on macOS and Windows)",
            details={"field": "name", "existing": taken},
        )


def snapshot(row: Template, author: ApiKey | None, message: str | None) -> TemplateVersion:
    return TemplateVersion(
        template_id=row.id,
        version=row.version,
        name=row.name,
        description=row.description,
        html_content=row.html_content,
        css_content=row.css_content,
        js_content=row.js_content,
        config=row.config,
        is_active=row.is_active,
        author_key_id=author.id if author else None,
        message=message,
        created_at=row.updated_at,
    )


async def create_template(
    changes: ChangeSet,
    fields: dict[str, Any],
    author: ApiKey | None,
    message: str | None,
    *,
    compiler: TemplateCompiler,
) -> Template:
    session = changes.session
    references = await compiler.references(fields.get("html_content", ""))
    await lock_template_graph(session)
    await _name_is_free(session, fields["name"])
    _check_graph(fields["name"], references, await dependency_map(session))
    now = utcnow()
    row = Template(**fields, dependencies=references, version=1, created_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    session.add(snapshot(row, author, message))
    await changes.emit("template.created", "template", row.id, 1, {"name": row.name})
    return row


async def update_template(
    changes: ChangeSet,
    template_id: int,
    fields: dict[str, Any],
    *,
    if_match: int | None,
    author: ApiKey | None,
    message: str | None,
    compiler: TemplateCompiler,
    force: bool = False,
) -> Template:
    """Apply `fields`; a change that leaves every field as it was makes no new version."""
    session = changes.session
    if "html_content" in fields:
        references = await compiler.references(fields["html_content"])
    await lock_template_graph(session)
    row = await locked_for_write(session, Template, template_id, if_match, force=force)
    changed = changed_fields(row, fields)
    if not changed:
        return row
    old_name = row.name
    if "name" in changed:
        await _name_is_free(session, changed["name"], renamed=row.id)
        users = await _templates_using(session, old_name)
        if users:
            raise Conflict(
                f"template '{old_name}' is included by {', '.join(users)}; rename those first",
                details={"used_by_templates": users},
            )
        await _no_widget_uses(session, old_name)
    if "html_content" in changed or "name" in changed:
        graph = await dependency_map(session)
        graph.pop(old_name, None)
        new_references = references if "html_content" in changed else row.dependencies
        _check_graph(changed.get("name", old_name), new_references, graph)
        row.dependencies = new_references
    save_new_version(row, changed)
    row.render_status = None
    row.render_error = None
    row.budget_failure_graph = None
    session.add(snapshot(row, author, message))
    await changes.emit(
        "template.updated",
        "template",
        row.id,
        row.version,
        {
            "name": row.name,
            "previous_name": old_name,
            "changed": sorted(changed),
            **forced(row, force),
        },
    )
    return row


async def rollback_template(
    changes: ChangeSet,
    template_id: int,
    version: int,
    *,
    if_match: int | None,
    author: ApiKey | None,
    message: str | None,
    compiler: TemplateCompiler,
    force: bool = False,
) -> Template:
    old = (
        await changes.session.execute(
            select(TemplateVersion).where(
                TemplateVersion.template_id == template_id, TemplateVersion.version == version
            )
        )
    ).scalar_one_or_none()
    if old is None:
        await get_or_404(changes.session, Template, template_id)
        raise NotFound(f"template {template_id} has no version {version}")
    fields = {key: getattr(old, key) for key in CONTENT_FIELDS}
    return await update_template(
        changes,
        template_id,
        fields,
        if_match=if_match,
        author=author,
        message=message or f"rollback to version {version}",
        compiler=compiler,
        force=force,
    )


async def _templates_using(session: AsyncSession, name: str) -> list[str]:
    return sorted(reversed_edges(await dependency_map(session)).get(name, []))


async def _no_widget_uses(session: AsyncSession, name: str) -> None:
    """Widgets name their fragment template in `config.template`; it must keep existing."""
    widget_ids = (
        (
            await session.execute(
                select(Widget.id)
                .where(Widget.config["template"].as_string() == name)
                .order_by(Widget.id)
            )
        )
        .scalars()
        .all()
    )
    if widget_ids:
        raise Conflict(
            f"template '{name}' renders widget(s) {', '.join(map(str, widget_ids))}; "
            "change their config.template first",
            details={"used_by_widgets": list(widget_ids)},
        )


async def delete_template(
    changes: ChangeSet, template_id: int, *, if_match: int | None, force: bool = False
) -> None:
    session = changes.session
    await lock_template_graph(session)
    row = await locked_for_write(session, Template, template_id, if_match, force=force)
    routes = (
        await session.execute(
            select(Route.path, Route.is_active).where(Route.template_id == row.id)
        )
    ).all()
    if routes:
        active = [path for path, is_active in routes if is_active]
        raise Conflict(
            f"template '{row.name}' is used by route(s) "
            f"{', '.join(path for path, _ in routes)}; point them elsewhere or delete them first",
            details={"routes": [path for path, _ in routes], "active_routes": active},
        )
    users = await _templates_using(session, row.name)
    if users:
        raise Conflict(
            f"template '{row.name}' is included by {', '.join(users)}",
            details={"used_by_templates": users},
        )
    await _no_widget_uses(session, row.name)
    await session.delete(row)
    await session.flush()
    await changes.emit(
        "template.deleted",
        "template",
        row.id,
        row.version,
        {"name": row.name, **forced(row, force)},
    )


async def preview_sources(
    session: AsyncSession, html_content: str, compiler: TemplateCompiler
) -> dict[str, str]:
    """The preview's source plus every DB template it reaches through include/extends/import."""
    references = await compiler.references(html_content)
    graph = await dependency_map(session)
    check_references(references, graph)
    needed = reach(graph, references)
    rows = await session.execute(
        select(Template.name, Template.html_content).where(Template.name.in_(needed))
    )
    sources: dict[str, str] = {name: html for name, html in rows.all()}  # noqa: C416
    sources[PREVIEW_NAME] = html_content
    return sources
