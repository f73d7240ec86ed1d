"""Carrying out a site apply's plan in the one transaction it was made in, and exporting a site.

Only objects whose content changed get a new version; every change is listed in one
`site.applied` event, published after commit, which followers install at once (README,
"Sites as code").
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_admin_api.operations.common import apply_changes, save_new_version
from dyndash_admin_api.operations.dashboards import _widget_payload as widget_payload
from dyndash_admin_api.operations.routes import _payload as route_payload
from dyndash_admin_api.operations.site_plan import (
    FILES,
    TEMPLATE_FIELDS,
    Plan,
    Step,
    load_current,
    route_fields,
)
from dyndash_admin_api.operations.templates import snapshot
from dyndash_common.changes import ChangeSet
from dyndash_common.db import ApiKey, Dashboard, Route, Template, Widget, utcnow

APPLY_MESSAGE = "site apply"

# The site objects a bundle creates.
SiteRow = TypeVar("SiteRow", Dashboard, Route, Template, Widget)


def _part(type: str, kind: str, entity_id: int, version: int, payload: dict[str, Any]) -> Any:
    return {
        "type": type,
        "entity": {"kind": kind, "id": entity_id},
        "version": version,
        "payload": payload,
    }


async def apply_plan(changes: ChangeSet, plan: Plan, author: ApiKey | None) -> None:
    """Write what `plan` says, and record its changes as one `site.applied` event."""
    run = _Apply(changes, plan, author)
    await run.run()
    await changes.emit_batch(run.parts, {"summary": plan.summary()})


class _Apply:
    def __init__(self, changes: ChangeSet, plan: Plan, author: ApiKey | None) -> None:
        self.session = changes.session
        self.plan = plan
        self.author = author
        self.parts: list[dict[str, Any]] = []
        self.templates = {name: row.id for name, row in plan.current.templates.items()}
        self.dashboards = {name: row.id for name, row in plan.current.dashboards.items()}

    def steps(self, kind: str, *actions: str) -> list[Step]:
        return [s for s in self.plan.steps if s.kind == kind and s.action in actions]

    async def run(self) -> None:
        for step in self.steps("dashboard", "create", "update", "adopt"):
            await self.dashboard(step)
        for step in self.steps("template", "create", "update", "adopt"):
            self.template(step)
        await self.session.flush()
        for step in self.steps("template", "create"):
            self.templates[step.name] = step.row.id
            self.session.add(snapshot(step.row, self.author, APPLY_MESSAGE))
            self.parts.append(
                _part("template.created", "template", step.row.id, 1, {"name": step.name})
            )
        for step in self.steps("route", "create", "update", "adopt"):
            self.route(step)
        await self.session.flush()
        for step in self.steps("route", "create"):
            self.parts.append(
                _part("route.created", "route", step.row.id, 1, route_payload(step.row))
            )
        for step in self.steps("widget", "create", "update", "adopt"):
            self.widget(step)
        await self.session.flush()
        for step in self.steps("widget", "create"):
            self.parts.append(
                _part("widget.created", "widget", step.row.id, 1, widget_payload(step.row))
            )
        for step in self.steps("widget", "delete"):
            await self.session.delete(step.row)
            self.parts.append(
                _part(
                    "widget.deleted",
                    "widget",
                    step.row.id,
                    step.row.version,
                    widget_payload(step.row),
                )
            )
        await self.prune()
        await self.session.flush()

    def _created(self, model: type[SiteRow], **columns: Any) -> SiteRow:
        """A new row at version 1, owned by the files, added to the session."""
        now = utcnow()
        row = model(**columns, version=1, managed_by=FILES, created_at=now, updated_at=now)
        self.session.add(row)
        return row

    async def dashboard(self, step: Step) -> None:
        if step.action == "create":
            row = self._created(Dashboard, name=step.name, **step.fields)
            await self.session.flush()
            step.row = row
            self.dashboards[step.name] = row.id
            self.parts.append(
                _part("dashboard.created", "dashboard", row.id, 1, {"name": row.name})
            )
        elif step.action == "update":
            save_new_version(step.row, step.fields)
            self.parts.append(
                _part(
                    "dashboard.updated",
                    "dashboard",
                    step.row.id,
                    step.row.version,
                    {"name": step.name, "changed": sorted(step.fields)},
                )
            )
        step.row.managed_by = FILES
        step.new_version = step.row.version

    def template(self, step: Step) -> None:
        references = self.plan.references[step.name]
        if step.action == "create":
            step.row = self._created(
                Template, name=step.name, **step.fields, dependencies=references
            )
            step.new_version = 1
            return
        row = step.row
        row.managed_by = FILES
        if step.action == "update":
            save_new_version(row, step.fields)
            if "html_content" in step.fields:
                row.dependencies = references
            row.render_status = None
            row.render_error = None
            row.budget_failure_graph = None
            self.session.add(snapshot(row, self.author, APPLY_MESSAGE))
            self.parts.append(
                _part(
                    "template.updated",
                    "template",
                    row.id,
                    row.version,
                    {"name": row.name, "previous_name": row.name, "changed": sorted(step.fields)},
                )
            )
        step.new_version = row.version

    def _route_columns(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Names to ids: the files name a route's template and dashboard."""
        columns = {k: v for k, v in fields.items() if k not in ("template", "dashboard")}
        if "template" in fields:
            template = fields["template"]
            columns["template_id"] = self.templates[template] if template is not None else None
        return columns

    def route(self, step: Step) -> None:
        desired = step.fields
        if step.action == "create":
            dashboard_id = self.dashboards[desired["dashboard"]] if desired["dashboard"] else None
            columns = self._route_columns(desired)
            columns["handler_config"] = {**columns["handler_config"], "dashboard_id": dashboard_id}
            step.row = self._created(Route, path=step.name, **columns, dashboard_id=dashboard_id)
            step.new_version = 1
            return
        row = step.row
        row.managed_by = FILES
        if step.action == "update":
            previous_path = row.path
            now_fields = route_fields(row, self.plan.current)
            dashboard = desired.get("dashboard", now_fields["dashboard"])
            dashboard_id = self.dashboards[dashboard] if dashboard else None
            columns = self._route_columns(desired)
            config = columns.get("handler_config", now_fields["handler_config"])
            columns["handler_config"] = {**config, "dashboard_id": dashboard_id}
            save_new_version(row, columns)
            row.dashboard_id = dashboard_id
            self.parts.append(
                _part(
                    "route.updated",
                    "route",
                    row.id,
                    row.version,
                    {**route_payload(row), "previous_path": previous_path},
                )
            )
        step.new_version = row.version

    def widget(self, step: Step) -> None:
        dashboard, key = step.name.split("/", 1)
        fields = dict(step.fields)
        if step.action == "create":
            step.row = self._created(
                Widget, dashboard_id=self.dashboards[dashboard], key=key, **fields, data_version=1
            )
            step.new_version = 1
            return
        row = step.row
        row.managed_by = FILES
        if "data" in fields:
            apply_changes(row, {"data": fields.pop("data")})
            row.data_version += 1
            row.updated_at = utcnow()
            self.parts.append(
                _part(
                    "widget.data_updated", "widget", row.id, row.data_version, widget_payload(row)
                )
            )
        if fields:
            save_new_version(row, fields)
            self.parts.append(
                _part("widget.updated", "widget", row.id, row.version, widget_payload(row))
            )
        step.new_version = row.version

    async def prune(self) -> None:
        for step in self.steps("route", "delete"):
            await self.session.delete(step.row)
            self.parts.append(
                _part(
                    "route.deleted", "route", step.row.id, step.row.version, route_payload(step.row)
                )
            )
        await self.session.flush()
        for step in self.steps("dashboard", "delete"):
            row = step.row
            widgets = [w for (d, _), w in self.plan.current.widgets.items() if d == step.name]
            await self.session.execute(delete(Widget).where(Widget.dashboard_id == row.id))
            await self.session.delete(row)
            self.parts.append(
                _part(
                    "dashboard.deleted",
                    "dashboard",
                    row.id,
                    row.version,
                    {"name": row.name, "widget_ids": sorted(w.id for w in widgets)},
                )
            )
        await self.session.flush()
        for step in self.steps("template", "delete"):
            await self.session.delete(step.row)
            self.parts.append(
                _part(
                    "template.deleted",
                    "template",
                    step.row.id,
                    step.row.version,
                    {"name": step.name},
                )
            )


async def export_site(session: AsyncSession) -> dict[str, list[dict[str, Any]]]:
    """The whole site in the bundle's shape, in a stable order: what `dyndash export` writes."""
    current = await load_current(session, lock=False)
    templates = [
        {"name": name, **{k: getattr(row, k) for k in TEMPLATE_FIELDS}}
        for name, row in sorted(current.templates.items())
    ]
    routes = [
        {"path": path, **route_fields(row, current)} for path, row in sorted(current.routes.items())
    ]
    dashboards = []
    for name, row in sorted(current.dashboards.items()):
        widgets = [
            {
                "key": key,
                "title": w.title,
                "type": w.type,
                "config": w.config,
                "data": w.data,
                "position": w.position,
                "priority": w.priority,
            }
            for (dashboard, key), w in sorted(
                current.widgets.items(), key=lambda item: (item[1].position, item[0][1])
            )
            if dashboard == name
        ]
        dashboards.append(
            {
                "name": name,
                "title": row.title,
                "description": row.description,
                "is_public": row.is_public,
                "widgets": widgets,
            }
        )
    return {"templates": templates, "routes": routes, "dashboards": dashboards}
