"""Site bundles for the tests of sites as code."""

from __future__ import annotations

from typing import Any


def small_site(marker: str = "v1") -> dict[str, Any]:
    """Two templates (one includes the other), a public dashboard with two widgets, two
    routes."""
    return {
        "templates": [
            {"name": "partials/header", "html_content": f"<h1>{marker}</h1>"},
            {
                "name": "home",
                "html_content": '{% include "partials/header" %}<p>{{ title }}</p>',
                "css_content": "p { color: red; }",
                "config": {"layout": "wide"},
                "description": "the home page",
            },
        ],
        "routes": [
            {"path": "/", "template": "home", "handler_config": {"context": {"title": marker}}},
            {"path": "/sales/{region}", "template": "home", "dashboard": "sales"},
        ],
        "dashboards": [
            {
                "name": "sales",
                "title": "Sales",
                "is_public": True,
                "widgets": [
                    {"key": "revenue", "type": "stat", "data": {"value": 1}},
                    {"key": "orders", "title": "Orders", "data": {"rows": [1, 2, 3]}},
                ],
            }
        ],
    }
