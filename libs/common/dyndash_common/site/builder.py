"""Building responses on a miss: fetch from the database, render in the sandbox, encode."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol

from jinja2 import TemplateError
from sqlalchemy import select

from dyndash_common import jsondoc
from dyndash_common.cache.entry import CachedEntry
from dyndash_common.db.engine import Database
from dyndash_common.db.models import Dashboard, Widget
from dyndash_common.envelope import success
from dyndash_common.errors import BlockedRender, BudgetExceeded, RenderError
from dyndash_common.metrics import RENDER_SECONDS, RENDERS
from dyndash_common.site.failures import RenderFailures, Signature
from dyndash_common.site.state import Catalog, RouteInfo, WidgetInfo
from dyndash_common.templating.pool import RenderJob, RenderPool, source_key
from dyndash_common.widgets.layout import LAYOUT_NAME

HTML = "text/html; charset=utf-8"
# What a build raises when the template is at fault, not the service: a render error, a Jinja2
# error, or a Python error raised by the template's own code. A page answers 500 for these, a
# warm job records them; anything else (the database, Redis) is the service's.
TEMPLATE_FAULTS: tuple[type[Exception], ...] = (
    RenderError,
    TemplateError,
    ValueError,
    TypeError,
    LookupError,
    ArithmeticError,
)
INLINE_NAME = "__inline__"
JSON = "application/json"
# A widget without a template of its own: its built-in card (README, "Widgets").
DEFAULT_FRAGMENT = "{{ render_widget(widget) }}\n"


def _widget_context(row: Widget) -> dict[str, Any]:
    return {
        "id": row.id,
        "key": row.key,
        "title": row.title,
        "type": row.type,
        "config": row.config,
        "data": row.data,
        "data_version": row.data_version,
        "position": row.position,
        "priority": row.priority,
        "updated_at": _iso(row.updated_at),
    }


def _iso(moment: datetime) -> str:
    # The envelope's timestamp format, so the data API can send the data's own time in it.
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TemplateRenderer(Protocol):
    async def render(
        self,
        name: str | None,
        source: str | None,
        context: dict[str, Any],
        asset_urls: dict[str, str],
        admit: Callable[[], None] | None = None,
    ) -> str:
        """Render DB template `name`, or `source` when name is None, under the budget.
        `admit` may refuse the render by raising, right before it starts."""


class ProcessTemplates:
    """Renders in the pool's child processes; each child keeps a template compiled until the
    catalog holds a new version of it."""

    def __init__(self, catalog: Catalog, pool: RenderPool) -> None:
        self.catalog = catalog
        self.pool = pool

    async def render(
        self,
        name: str | None,
        source: str | None,
        context: dict[str, Any],
        asset_urls: dict[str, str],
        admit: Callable[[], None] | None = None,
    ) -> str:
        if name is not None:
            sources = {}
            for reached in self.catalog.graph(name):
                info = self.catalog.by_name.get(reached)
                if info is not None:
                    sources[reached] = (f"{info.id}:{info.version}", info.html)
            target = name
        else:
            text = source or ""
            sources, target = {INLINE_NAME: (source_key(text), text)}, INLINE_NAME
        return await self.pool.render(RenderJob(target, sources, context, asset_urls), admit)


BudgetFailed = Callable[[str, str], None]
# Each template a build rendered, with the versions of its include graph that render was of.
RenderedGraphs = dict[str, Signature]


@dataclass(frozen=True)
class PageOrder:
    """A route's page, for these path params and query values."""

    route: RouteInfo
    template: str
    params: dict[str, str]
    query: dict[str, str]


@dataclass(frozen=True)
class FragmentOrder:
    """A widget's fragment."""

    widget: WidgetInfo
    ttl: int


@dataclass(frozen=True)
class DataOrder:
    """A dashboard's data payload (the data API)."""

    dashboard_id: int
    ttl: int


BuildOrder = PageOrder | FragmentOrder | DataOrder


class PageBuilder:
    """Builds pages, fragments and dashboard data from the database on a miss.

    A template whose include graph ran over its render budget (`failures`) is not rendered
    again: the build fails at once with its reason. A new budget failure is handed to
    `on_budget_failure` (template name, reason), for the process to record.
    """

    def __init__(
        self,
        catalog: Catalog,
        database: Database,
        templates: TemplateRenderer,
        *,
        failures: RenderFailures | None = None,
        on_budget_failure: BudgetFailed | None = None,
    ) -> None:
        self.catalog = catalog
        self.database = database
        self.templates = templates
        self.failures = failures or RenderFailures()
        self.on_budget_failure = on_budget_failure
        self.renders = 0

    async def _dashboard_context(self, dashboard_id: int | None) -> dict[str, Any]:
        if dashboard_id is None:
            return {"dashboard": None, "widgets": []}
        async with self.database.read() as session:
            dashboard = await session.get(Dashboard, dashboard_id)
            rows = (
                await session.execute(
                    select(Widget)
                    .where(Widget.dashboard_id == dashboard_id)
                    .order_by(Widget.position, Widget.id)
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
                # The page's "last update": the dashboard's or its newest widget's.
                "updated_at": max(
                    [_iso(dashboard.updated_at), *(w["updated_at"] for w in widgets)]
                ),
            },
            "widgets": widgets,
        }

    def asset_urls(self, template: str) -> dict[str, str]:
        # Any template may link the widgets' stylesheet: asset_url('widgets').
        urls = {"widgets": f"/assets/{self.catalog.bundle(LAYOUT_NAME, 'css')[0]}.css"}
        for kind in ("css", "js"):
            digest, content = self.catalog.bundle(template, kind)
            if content:
                urls[kind] = f"/assets/{digest}.{kind}"
        return urls

    async def _render(
        self,
        name: str | None,
        source: str | None,
        context: dict[str, Any],
        assets: dict[str, str],
        rendered: RenderedGraphs | None = None,
    ) -> str:
        admit = None
        # The built-in layout is ours, not an admin's: what can put it over budget is a
        # dashboard's data, which the next write changes, so it is never blocked by version.
        remembered = name is not None and name != LAYOUT_NAME
        if name is not None and remembered:
            self._refuse_failed(name)
            # Checked again once a render process is free: a render queued behind the one
            # that failed its budget is refused rather than run.
            admit = partial(self._refuse_failed, name)
        self.renders += 1
        # Only names of existing templates become labels, so the series stay bounded.
        label = "_inline" if name is None else name if name in self.catalog.by_name else "_unknown"
        started = time.perf_counter()
        if rendered is not None and name is not None:
            # Read from the catalog right where the render takes its sources, with nothing
            # awaited in between: the versions this render is of.
            rendered[name] = self.catalog.signature(name)
        try:
            html = await self.templates.render(name, source, context, assets, admit)
        except BlockedRender:
            raise
        except BudgetExceeded as error:
            RENDERS.labels(label, "budget").inc()
            if name is not None and remembered and self.on_budget_failure is not None:
                self.on_budget_failure(name, str(error))
            raise
        except Exception:
            RENDERS.labels(label, "failed").inc()
            raise
        RENDER_SECONDS.labels(label).observe(time.perf_counter() - started)
        RENDERS.labels(label, "ok").inc()
        return html

    async def build(
        self, order: BuildOrder, rendered: RenderedGraphs | None = None
    ) -> CachedEntry | None:
        """What `order` names, built now; None when it no longer exists. `rendered` is given
        each template rendered for it, with the versions of its include graph rendered."""
        if isinstance(order, PageOrder):
            return await self.page(order.route, order.template, order.params, order.query, rendered)
        if isinstance(order, FragmentOrder):
            return await self.fragment(order.widget, order.ttl, rendered)
        return await self.dashboard_data(order.dashboard_id, order.ttl)

    def _refuse_failed(self, name: str) -> None:
        reason = self.failures.blocked(name, self.catalog.signature(name))
        if reason is not None:
            raise BlockedRender(f"{reason} (not rendered again until the template changes)")

    async def page(
        self,
        route: RouteInfo,
        template: str,
        params: dict[str, str],
        query: dict[str, str],
        rendered: RenderedGraphs | None = None,
    ) -> CachedEntry:
        nonce = secrets.token_urlsafe(12)
        context: dict[str, Any] = {
            **route.context,
            **await self._dashboard_context(route.dashboard_id),
            "params": params,
            "query": query,
            "csp_nonce": nonce,
            "inline_priority": route.inline_priority,
        }
        html = await self._render(template, None, context, self.asset_urls(template), rendered)
        # The policy's inputs, not the policy: the sending gateway adds its own DYNDASH_CSP.
        return CachedEntry.build(
            html.encode(), HTML, route.cache_ttl, nonce=nonce, route_csp=route.csp
        )

    async def fragment(
        self, widget: WidgetInfo, ttl: int, rendered: RenderedGraphs | None = None
    ) -> CachedEntry | None:
        async with self.database.read() as session:
            row = await session.get(Widget, widget.id)
        if row is None:
            return None
        nonce = secrets.token_urlsafe(12)
        context = {"widget": _widget_context(row), "csp_nonce": nonce}
        if widget.template:
            html = await self._render(widget.template, None, context, {}, rendered)
        else:
            html = await self._render(None, DEFAULT_FRAGMENT, context, {})
        return CachedEntry.build(html.encode(), HTML, ttl, nonce=nonce)

    async def dashboard_data(self, dashboard_id: int, ttl: int) -> CachedEntry | None:
        context = await self._dashboard_context(dashboard_id)
        if context["dashboard"] is None:
            return None
        # Stamped with the data's last change, not the build's clock: a rebuild of unchanged data
        # is the same bytes, so its ETag, and a client's 304, hold across rebuilds and replicas.
        envelope = success(context)
        envelope["timestamp"] = context["dashboard"]["updated_at"]
        return CachedEntry.build(jsondoc.dumps(envelope), JSON, ttl)
