"""The demo `dyndash dev` seeds: at `/` a sales and operations dashboard in the built-in layout
(`dyndash.showcase`); at `/classic` and `/sales/{region}` a hand-written layout, a page
extending it and a dashboard with widgets of a custom type."""

from __future__ import annotations

from sqlalchemy import select

from dyndash import showcase
from dyndash_admin_api.operations.dashboards import create_dashboard, create_widget
from dyndash_admin_api.operations.routes import create_route
from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import ChangeSet, change
from dyndash_common.db import Dashboard
from dyndash_common.runtime import Runtime
from dyndash_common.templating import LocalCompiler

LAYOUT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{% block title %}dyndash{% endblock %}</title>
{% set stylesheet = asset_url('css') if asset_url else '' %}
{% if stylesheet %}<link rel="stylesheet" href="{{ stylesheet }}">{% endif %}
</head>
<body>
<main>{% block content %}{% endblock %}</main>
{% set script = asset_url('js') if asset_url else '' %}
{% if script %}<script src="{{ script }}" defer></script>{% endif %}
</body>
</html>
"""

WIDGET = """<section class="widget" data-widget-id="{{ widget.id }}" data-widget="{{ widget.key }}">
  <h2>{{ widget.title }}</h2>
  <ul>
  {%- for label, value in widget.data.items() %}<li>{{ label }}: {{ value }}</li>{% endfor -%}
  </ul>
</section>
"""

PAGE = """{% extends "demo-layout" %}
{% block title %}{{ title }}{% endblock %}
{% block content %}
<h1 data-dashboard-id="{{ dashboard.id if dashboard else '' }}">
{{ title }}{% if params.region %} — {{ params.region }}{% endif %}</h1>
{% for widget in widgets %}{% include "demo-widget" %}{% endfor %}
{% endblock %}
"""

# Refreshes a widget in place when its data changes: the gateway pushes the change over SSE
# and the browser fetches the widget's fragment.
LIVE_JS = """(() => {
  const heading = document.querySelector("[data-dashboard-id]");
  if (!heading || !heading.dataset.dashboardId || !window.EventSource) return;
  const events = new EventSource("/live/dashboards/" + heading.dataset.dashboardId);
  events.addEventListener("widget", async (message) => {
    const update = JSON.parse(message.data);
    const response = await fetch(update.fragment, { cache: "no-store" });
    if (!response.ok) return;
    const current = document.querySelector('[data-widget-id="' + update.widget_id + '"]');
    if (current) current.outerHTML = await response.text();
  });
})();
"""


async def seed_demo(runtime: Runtime) -> bool:
    """Create the demo once; returns False when it is already there."""
    async with runtime.database.read() as session:
        if (await session.execute(select(Dashboard.id).where(Dashboard.name == "demo"))).first():
            return False
    async with change(runtime) as changes:
        await create_template(
            changes,
            {"name": "demo-layout", "html_content": LAYOUT},
            None,
            "demo",
            compiler=LocalCompiler(),
        )
        await create_template(
            changes,
            {"name": "demo-widget", "html_content": WIDGET},
            None,
            "demo",
            compiler=LocalCompiler(),
        )
        page = await create_template(
            changes,
            {
                "name": "demo-page",
                "html_content": PAGE,
                "css_content": "h1 { color: #234; }",
                "js_content": LIVE_JS,
            },
            None,
            "demo",
            compiler=LocalCompiler(),
        )
        dashboard = await create_dashboard(
            changes, {"name": "demo", "title": "Demo", "description": None, "is_public": True}
        )
        await create_widget(
            changes,
            dashboard.id,
            {
                "key": "revenue",
                "title": "Revenue",
                "type": "kv",
                "config": {"template": "demo-widget"},
                "data": {"today": 1200},
            },
        )
        await create_widget(
            changes,
            dashboard.id,
            {
                "key": "orders",
                "title": "Orders",
                "type": "kv",
                "config": {"template": "demo-widget"},
                "data": {"open": 7},
            },
        )
        await _seed_showcase(changes)
        for path in ("/classic", "/sales/{region}"):
            await create_route(
                changes,
                {
                    "path": path,
                    "template_id": page.id,
                    "method": "GET",
                    "is_active": True,
                    "handler_config": {
                        "dashboard_id": dashboard.id,
                        "context": {"title": "Demo dashboard"},
                        "query_params": [],
                        "cache_ttl": 300,
                        "auth": "public",
                    },
                },
            )
    return True


async def _seed_showcase(changes: ChangeSet) -> None:
    dashboard = await create_dashboard(
        changes,
        {
            "name": showcase.NAME,
            "title": "Sales & operations",
            "description": "Revenue, orders and the health of the platform, live.",
            "is_public": True,
        },
    )
    for widget in showcase.widgets():
        await create_widget(changes, dashboard.id, widget)
    await create_route(
        changes,
        {
            "path": "/",
            "template_id": None,
            "method": "GET",
            "is_active": True,
            "handler_config": {
                "dashboard_id": dashboard.id,
                "context": {},
                "query_params": [],
                "cache_ttl": 300,
                "auth": "public",
                # Priority 0 renders into the page; the rest loads as it scrolls near.
                "inline_priority": 0,
                "csp": {},
            },
        },
    )
