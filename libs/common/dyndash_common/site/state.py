"""What the gateway holds in memory: routes, templates, dashboard versions.

The hot path reads these to find a route and to compute the version signature of a page
without touching the database. Change events and a periodic resync keep them current; every
update replaces whole objects, so a request never sees a half-applied change.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_common.db.models import Dashboard, Route, Template, Widget
from dyndash_common.events.model import ChangeEvent
from dyndash_common.site.failures import RenderFailures
from dyndash_common.site.impact import reach
from dyndash_common.widgets.layout import (
    LAYOUT_HTML,
    LAYOUT_ID,
    LAYOUT_NAME,
    LAYOUT_VERSION,
    LOADER_JS,
    STYLESHEET,
)

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class TemplateInfo:
    id: int
    name: str
    version: int
    html: str
    css: str
    js: str
    dependencies: tuple[str, ...]
    is_active: bool


# In every catalog: the page of a route with a dashboard and no template.
LAYOUT = TemplateInfo(
    id=LAYOUT_ID,
    name=LAYOUT_NAME,
    version=LAYOUT_VERSION,
    html=LAYOUT_HTML,
    css=STYLESHEET,
    js=LOADER_JS,
    dependencies=(),
    is_active=True,
)


@dataclass(frozen=True)
class RouteInfo:
    id: int
    path: str
    version: int
    # LAYOUT_ID when the route has no template of its own.
    template_id: int
    dashboard_id: int | None
    context: dict[str, Any]
    query_params: tuple[str, ...]
    cache_ttl: int
    auth: str
    # Widgets with a priority above this are placeholders filled after load; None: no limit.
    inline_priority: int | None = None
    # Origins added to the page's Content-Security-Policy, by directive.
    csp: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class WidgetInfo:
    id: int
    dashboard_id: int
    version: int
    data_version: int
    template: str | None


@dataclass(frozen=True)
class DashboardInfo:
    id: int
    version: int
    is_public: bool
    widgets: tuple[WidgetInfo, ...]

    @property
    def signature(self) -> tuple[int, tuple[tuple[int, int, int], ...]]:
        return self.version, tuple((w.id, w.version, w.data_version) for w in self.widgets)


@dataclass
class Catalog:
    """Templates by name, with the transitive include graph and CSS/JS bundles derived once."""

    by_name: dict[str, TemplateInfo] = field(default_factory=lambda: {LAYOUT.name: LAYOUT})
    by_id: dict[int, str] = field(default_factory=lambda: {LAYOUT.id: LAYOUT.name})
    _signatures: dict[str, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    _bundles: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    _edges: dict[str, tuple[str, ...]] | None = None

    def replace(self, templates: Iterable[TemplateInfo]) -> None:
        self.by_name = {LAYOUT.name: LAYOUT, **{t.name: t for t in templates}}
        self.by_id = {t.id: t.name for t in self.by_name.values()}
        self._signatures = {}
        self._bundles = {}
        self._edges = None

    def upsert(self, template: TemplateInfo) -> None:
        previous = self.by_id.get(template.id)
        by_name = dict(self.by_name)
        if previous is not None:
            by_name.pop(previous, None)
        by_name[template.name] = template
        self.replace(by_name.values())

    def remove(self, template_id: int) -> None:
        name = self.by_id.get(template_id)
        if name is not None:
            self.replace(t for t in self.by_name.values() if t.id != template_id)

    @property
    def edges(self) -> dict[str, tuple[str, ...]]:
        """Each template's include/extends/import names: the include graph."""
        if self._edges is None:
            self._edges = {t.name: t.dependencies for t in self.by_name.values()}
        return self._edges

    def graph(self, name: str) -> list[str]:
        """`name` and everything it reaches, dependencies first."""
        return reach(self.edges, [name])

    def signature(self, name: str) -> tuple[tuple[str, int], ...]:
        """The versions a render of `name` depends on: its own and its include graph's."""
        cached = self._signatures.get(name)
        if cached is None:
            cached = tuple(
                (n, self.by_name[n].version) for n in sorted(self.graph(name)) if n in self.by_name
            )
            self._signatures[name] = cached
        return cached

    def bundle(self, name: str, kind: str) -> tuple[str, bytes]:
        """The CSS or JS of `name`'s include graph, concatenated, and its content hash."""
        key = (name, kind)
        cached = self._bundles.get(key)
        if cached is None:
            parts = [
                getattr(self.by_name[n], kind)
                for n in self.graph(name)
                if n in self.by_name and getattr(self.by_name[n], kind)
            ]
            content = "\n".join(parts).encode()
            cached = (hashlib.blake2b(content, digest_size=10).hexdigest(), content)
            self._bundles[key] = cached
        return cached


@dataclass
class RouteTable:
    static: dict[str, RouteInfo] = field(default_factory=dict)
    dynamic: list[tuple[re.Pattern[str], RouteInfo]] = field(default_factory=list)

    @classmethod
    def build(cls, routes: Iterable[RouteInfo]) -> RouteTable:
        table = cls()
        patterns = []
        for route in routes:
            if "{" not in route.path:
                table.static[route.path] = route
                continue
            regex = (
                "^"
                + _PARAM.sub(
                    r"(?P<\1>[^/]+)", re.escape(route.path).replace(r"\{", "{").replace(r"\}", "}")
                )
                + "$"
            )
            # More literal characters first: /sales/top beats /sales/{region}.
            literal = len(_PARAM.sub("", route.path))
            patterns.append((literal, re.compile(regex), route))
        patterns.sort(key=lambda item: -item[0])
        table.dynamic = [(pattern, route) for _, pattern, route in patterns]
        return table

    def match(self, path: str) -> tuple[RouteInfo, dict[str, str]] | None:
        route = self.static.get(path)
        if route is not None:
            return route, {}
        for pattern, candidate in self.dynamic:
            # fullmatch: Python's `$` also matches before a final newline.
            found = pattern.fullmatch(path)
            if found:
                return candidate, found.groupdict()
        return None


def template_info(row: Template) -> TemplateInfo:
    return TemplateInfo(
        id=row.id,
        name=row.name,
        version=row.version,
        html=row.html_content,
        css=row.css_content,
        js=row.js_content,
        dependencies=tuple(row.dependencies),
        is_active=row.is_active,
    )


def route_info(row: Route) -> RouteInfo:
    config = row.handler_config or {}
    return RouteInfo(
        id=row.id,
        path=row.path,
        version=row.version,
        template_id=LAYOUT_ID if row.template_id is None else row.template_id,
        dashboard_id=row.dashboard_id,
        context=dict(config.get("context") or {}),
        query_params=tuple(config.get("query_params") or ()),
        cache_ttl=int(config.get("cache_ttl", 300)),
        auth=str(config.get("auth", "public")),
        inline_priority=config.get("inline_priority"),
        csp=tuple(
            (str(directive), tuple(str(origin) for origin in origins))
            for directive, origins in sorted((config.get("csp") or {}).items())
        ),
    )


def widget_info(row: Widget) -> WidgetInfo:
    template = (row.config or {}).get("template")
    return WidgetInfo(
        id=row.id,
        dashboard_id=row.dashboard_id,
        version=row.version,
        data_version=row.data_version,
        template=template if isinstance(template, str) else None,
    )


# Generations are unique across every SiteState of the process, so a response remembered for one
# state can never match another that happens to have made as many changes.
_generations = itertools.count(1)


@dataclass
class SiteState:
    """What a gateway or render worker holds of the site: the template catalog, the route
    table, dashboards and widgets with their versions, and the render budget failures. The
    hot path reads it without touching the database; a `StateFollower` keeps it current."""

    catalog: Catalog = field(default_factory=Catalog)
    routes: RouteTable = field(default_factory=RouteTable)
    dashboards: dict[int, DashboardInfo] = field(default_factory=dict)
    widgets: dict[int, WidgetInfo] = field(default_factory=dict)
    failures: RenderFailures = field(default_factory=RenderFailures)
    loaded: bool = False
    # Moves on (after) every change of the state: what was derived from it at an older
    # generation may be out of date (the gateway's ready responses).
    generation: int = field(default_factory=lambda: next(_generations))

    def _changed(self) -> None:
        self.generation = next(_generations)

    async def load(self, session: AsyncSession) -> None:
        templates = (await session.execute(select(Template))).scalars().all()
        routes = (await session.execute(select(Route).where(Route.is_active))).scalars().all()
        dashboards, widgets = await self._read_dashboards(session, None)
        failures = await self._read_failures(session)
        catalog = [template_info(row) for row in templates]
        self._install(catalog, routes, dashboards, widgets, failures)

    @staticmethod
    async def _read_failures(session: AsyncSession) -> list[tuple[str, str, str]]:
        rows = await session.execute(
            select(Template.name, Template.budget_failure_graph, Template.render_error).where(
                Template.budget_failure_graph.is_not(None)
            )
        )
        return [(name, graph or "", error or "") for name, graph, error in rows.all()]

    def note_render_failure(self, event: ChangeEvent) -> None:
        """Apply a `template.render_failed` report: a budget failure blocks its graph."""
        name, graph = event.payload.get("name"), event.payload.get("budget_graph")
        if isinstance(name, str) and isinstance(graph, str):
            self.note_budget_failure(name, graph, str(event.payload.get("error") or ""))

    def note_budget_failure(self, name: str, graph: str, reason: str) -> None:
        """Block the graph of `name` at those versions (a budget failure seen here or told)."""
        self.failures.add(name, graph, reason)
        self._changed()

    async def sync(self, session: AsyncSession) -> None:
        """Bring everything up to date, reading template content only where a version moved.

        Everything is read first and installed in one step with no await in between, so a
        request never sees part of a change: a site apply (`site.applied`) is applied this way
        and no page is built from a mix of its old and new objects."""
        rows = await session.execute(select(Template.id, Template.version))
        current = {template_id: version for template_id, version in rows.all()}  # noqa: C416
        known = {t.id: t for t in self.catalog.by_name.values() if t.id != LAYOUT_ID}
        stale = [
            tid
            for tid, version in current.items()
            if tid not in known or known[tid].version != version
        ]
        kept = [t for tid, t in known.items() if tid in current and tid not in stale]
        templates: list[TemplateInfo] | None = None
        if stale or len(kept) != len(known):
            fresh = (
                await session.execute(select(Template).where(Template.id.in_(stale)))
            ).scalars()
            templates = [*kept, *(template_info(row) for row in fresh)]
        routes = (await session.execute(select(Route).where(Route.is_active))).scalars().all()
        dashboards, widgets = await self._read_dashboards(session, None)
        failures = await self._read_failures(session)
        self._install(templates, routes, dashboards, widgets, failures)

    def _install(
        self,
        templates: list[TemplateInfo] | None,
        routes: Iterable[Route],
        dashboards: dict[int, DashboardInfo],
        widgets: list[WidgetInfo],
        failures: list[tuple[str, str, str]],
    ) -> None:
        """Everything read by `load` or `sync`, installed with no await in between, so the
        whole state changes at once (`templates` None: the catalog is current)."""
        try:
            if templates is not None:
                self.catalog.replace(templates)
            self.routes = RouteTable.build(route_info(row) for row in routes)
            self._install_dashboards(dashboards, widgets, None)
            self.failures.replace(failures)
            self.loaded = True
        finally:
            self._changed()

    async def reload_template(self, session: AsyncSession, template_id: int) -> None:
        row = await session.get(Template, template_id, populate_existing=True)
        try:
            if row is None:
                self.catalog.remove(template_id)
            else:
                self.catalog.upsert(template_info(row))
        finally:
            self._changed()

    async def reload_routes(self, session: AsyncSession) -> None:
        routes = (await session.execute(select(Route).where(Route.is_active))).scalars().all()
        try:
            self.routes = RouteTable.build(route_info(row) for row in routes)
        finally:
            self._changed()

    async def reload_dashboard(self, session: AsyncSession, dashboard_id: int) -> None:
        await self._load_dashboards(session, dashboard_id)

    async def _load_dashboards(self, session: AsyncSession, only: int | None) -> None:
        dashboards, widgets = await self._read_dashboards(session, only)
        self._install_dashboards(dashboards, widgets, only)

    @staticmethod
    async def _read_dashboards(
        session: AsyncSession, only: int | None
    ) -> tuple[dict[int, DashboardInfo], list[WidgetInfo]]:
        dashboard_query = select(Dashboard.id, Dashboard.version, Dashboard.is_public)
        widget_query = select(Widget).order_by(Widget.position, Widget.id)
        if only is not None:
            dashboard_query = dashboard_query.where(Dashboard.id == only)
            widget_query = widget_query.where(Widget.dashboard_id == only)
        dashboards = (await session.execute(dashboard_query)).all()
        widgets = [widget_info(row) for row in (await session.execute(widget_query)).scalars()]
        by_dashboard: dict[int, list[WidgetInfo]] = {}
        for widget in widgets:
            by_dashboard.setdefault(widget.dashboard_id, []).append(widget)
        fresh = {
            row.id: DashboardInfo(
                row.id, row.version, row.is_public, tuple(by_dashboard.get(row.id, ()))
            )
            for row in dashboards
        }
        return fresh, widgets

    def _install_dashboards(
        self, fresh: dict[int, DashboardInfo], widgets: list[WidgetInfo], only: int | None
    ) -> None:
        self._changed()
        if only is None:
            self.dashboards = fresh
            self.widgets = {w.id: w for w in widgets}
            return
        dashboards_now = dict(self.dashboards)
        widgets_now = {k: v for k, v in self.widgets.items() if v.dashboard_id != only}
        dashboards_now.pop(only, None)
        dashboards_now.update(fresh)
        if only in fresh:
            widgets_now.update({w.id: w for w in widgets})
        self.dashboards = dashboards_now
        self.widgets = widgets_now
