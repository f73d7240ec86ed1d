"""Building responses on a miss: fetch from the database, render in the sandbox, encode."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson
from jinja2 import BaseLoader, Template, TemplateNotFound
from sqlalchemy import select

from dyndash_common.cache.entry import CachedEntry
from dyndash_common.db.engine import Database
from dyndash_common.db.models import Dashboard, Widget
from dyndash_common.envelope import success
from dyndash_common.metrics import RENDER_SECONDS, RENDERS
from dyndash_common.site.state import Catalog, RouteInfo, WidgetInfo
from dyndash_common.templating.budget import RenderJob, RenderPool
from dyndash_common.templating.inline import InlineRenderer
from dyndash_common.templating.meter import BudgetExceeded
from dyndash_common.templating.sandbox import DashboardSandbox

HTML = "text/html; charset=utf-8"
INLINE_NAME = "__inline__"
JSON = "application/json"
DEFAULT_FRAGMENT = """<section class="dd-widget" data-widget-id="{{ widget.id }}" \
data-data-version="{{ widget.data_version }}">
<h2>{{ widget.title }}</h2>
<pre>{{ widget.data|tojson(indent=2) }}</pre>
</section>
"""


def content_security_policy(nonce: str) -> str:
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


class CatalogLoader(BaseLoader):
    """DB templates by name from the in-memory catalog; a new version is a new compile."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        info = self.catalog.by_name.get(template)
        if info is None:
            raise TemplateNotFound(template)
        return info.html, template, lambda: self.catalog.by_name.get(template) is info


def _widget_context(row: Widget) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "title": row.title,
        "type": row.type,
        "config": row.config,
        "data": row.data,
        "data_version": row.data_version,
    }


class TemplateRenderer(Protocol):
    async def render(
        self,
        name: str | None,
        source: str | None,
        context: dict[str, Any],
        asset_urls: dict[str, str],
    ) -> str:
        """Render DB template `name`, or `source` when name is None, under the budget."""


class InlineTemplates:
    """Renders in this process on budgeted threads; each template compiled once per version."""

    def __init__(self, catalog: Catalog, renderer: InlineRenderer) -> None:
        self.renderer = renderer
        self.environment = DashboardSandbox(CatalogLoader(catalog), cache_size=2000)
        self._inline: dict[str, Template] = {}

    async def render(
        self,
        name: str | None,
        source: str | None,
        context: dict[str, Any],
        asset_urls: dict[str, str],
    ) -> str:
        def work() -> str:
            template = self.environment.get_template(name) if name else self._compiled(source or "")
            full = {**context, "asset_url": lambda kind: asset_urls.get(kind, "")}
            return self.renderer.render_sync(template, full)

        return await self.renderer.run(work)

    def _compiled(self, source: str) -> Template:
        template = self._inline.get(source)
        if template is None:
            template = self._inline[source] = self.environment.from_string(source)
        return template


class ProcessTemplates:
    """Renders in worker processes with an address-space limit (the renderer service)."""

    def __init__(self, catalog: Catalog, pool: RenderPool) -> None:
        self.catalog = catalog
        self.pool = pool

    async def render(
        self,
        name: str | None,
        source: str | None,
        context: dict[str, Any],
        asset_urls: dict[str, str],
    ) -> str:
        if name is not None:
            sources = {
                n: self.catalog.by_name[n].html
                for n in self.catalog.graph(name)
                if n in self.catalog.by_name
            }
            target = name
        else:
            sources, target = {INLINE_NAME: source or ""}, INLINE_NAME
        return await self.pool.render(RenderJob(sources, target, context, asset_urls))


class PageBuilder:
    def __init__(self, catalog: Catalog, database: Database, templates: TemplateRenderer) -> None:
        self.catalog = catalog
        self.database = database
        self.templates = templates
        self.renders = 0

    async def _dashboard_context(self, dashboard_id: int | None) -> dict[str, Any]:
        if dashboard_id is None:
            return {"dashboard": None, "widgets": []}
        async with self.database.read() as session:
            dashboard = await session.get(Dashboard, dashboard_id)
            rows = (
                await session.execute(
                    select(Widget).where(Widget.dashboard_id == dashboard_id).order_by(Widget.id)
                )
            ).scalars()
            widgets = [_widget_context(row) for row in rows]
        if dashboard is None:
            return {"dashboard": None, "widgets": []}
        return {
            "dashboard": {
                "id": dashboard.id,
                "name": dashboard.name,
                "title": dashboard.title,
                "description": dashboard.description,
                "version": dashboard.version,
            },
            "widgets": widgets,
        }

    def asset_urls(self, template: str) -> dict[str, str]:
        urls = {}
        for kind in ("css", "js"):
            digest, content = self.catalog.bundle(template, kind)
            if content:
                urls[kind] = f"/assets/{digest}.{kind}"
        return urls

    async def _render(
        self, name: str | None, source: str | None, context: dict[str, Any], assets: dict[str, str]
    ) -> str:
        self.renders += 1
        # Only names of existing templates become labels, so the series stay bounded.
        label = "_inline" if name is None else name if name in self.catalog.by_name else "_unknown"
        started = time.perf_counter()
        try:
            html = await self.templates.render(name, source, context, assets)
        except BudgetExceeded:
            RENDERS.labels(label, "budget").inc()
            raise
        except Exception:
            RENDERS.labels(label, "failed").inc()
            raise
        RENDER_SECONDS.labels(label).observe(time.perf_counter() - started)
        RENDERS.labels(label, "ok").inc()
        return html

    async def page(
        self, route: RouteInfo, template: str, params: dict[str, str], query: dict[str, str]
    ) -> CachedEntry:
        nonce = secrets.token_urlsafe(12)
        context: dict[str, Any] = {
            **route.context,
            **await self._dashboard_context(route.dashboard_id),
            "params": params,
            "query": query,
            "csp_nonce": nonce,
        }
        html = await self._render(template, None, context, self.asset_urls(template))
        return CachedEntry.build(
            html.encode(), HTML, route.cache_ttl, csp=content_security_policy(nonce)
        )

    async def fragment(self, widget: WidgetInfo, ttl: int) -> CachedEntry | None:
        async with self.database.read() as session:
            row = await session.get(Widget, widget.id)
        if row is None:
            return None
        nonce = secrets.token_urlsafe(12)
        context = {"widget": _widget_context(row), "csp_nonce": nonce}
        if widget.template:
            html = await self._render(widget.template, None, context, {})
        else:
            html = await self._render(None, DEFAULT_FRAGMENT, context, {})
        return CachedEntry.build(html.encode(), HTML, ttl, csp=content_security_policy(nonce))

    async def dashboard_data(self, dashboard_id: int, ttl: int) -> CachedEntry | None:
        context = await self._dashboard_context(dashboard_id)
        if context["dashboard"] is None:
            return None
        body = orjson.dumps(success(context))
        return CachedEntry.build(body, JSON, ttl)
