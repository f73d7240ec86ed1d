"""Building responses on a miss: fetch from the database, render in the sandbox, encode."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson
from jinja2 import BaseLoader, Template, TemplateNotFound
from sqlalchemy import select

from dyndash_common.cache.entry import CachedEntry
from dyndash_common.db.engine import Database
from dyndash_common.db.models import Dashboard, Widget
from dyndash_common.envelope import success
from dyndash_common.metrics import RENDER_SECONDS, RENDERS
from dyndash_common.templating.inline import InlineRenderer
from dyndash_common.templating.sandbox import DashboardSandbox
from dyndash_gateway.state import Catalog, RouteInfo, WidgetInfo

HTML = "text/html; charset=utf-8"
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


class PageBuilder:
    def __init__(self, catalog: Catalog, database: Database, renderer: InlineRenderer) -> None:
        self.catalog = catalog
        self.database = database
        self.renderer = renderer
        self.environment = DashboardSandbox(CatalogLoader(catalog), cache_size=2000)
        self._default_fragment = self.environment.from_string(DEFAULT_FRAGMENT)
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

    def asset_url(self, template: str) -> Callable[[str], str]:
        def url(kind: str) -> str:
            if kind not in ("css", "js"):
                return ""
            digest, content = self.catalog.bundle(template, kind)
            return f"/assets/{digest}.{kind}" if content else ""

        return url

    async def _render(self, template: str | Template, context: dict[str, Any]) -> str:
        def work() -> str:
            compiled = (
                self.environment.get_template(template) if isinstance(template, str) else template
            )
            return self.renderer.render_sync(compiled, context)

        self.renders += 1
        label = template if isinstance(template, str) else "_default_fragment"
        started = time.perf_counter()
        try:
            html = await self.renderer.run(work)
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
            "asset_url": self.asset_url(template),
            "csp_nonce": nonce,
        }
        html = await self._render(template, context)
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
        template: str | Template = widget.template or self._default_fragment
        html = await self._render(template, context)
        return CachedEntry.build(html.encode(), HTML, ttl, csp=content_security_policy(nonce))

    async def dashboard_data(self, dashboard_id: int, ttl: int) -> CachedEntry | None:
        context = await self._dashboard_context(dashboard_id)
        if context["dashboard"] is None:
            return None
        body = orjson.dumps(success(context))
        return CachedEntry.build(body, JSON, ttl)
