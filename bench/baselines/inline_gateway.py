"""The gateway as it rendered before render isolation: on threads of the serving process.

    python -m bench.baselines.inline_gateway --port N

Only a benchmark baseline (`bench.cold_miss`): a hostile template can crash or freeze it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import uvicorn
from jinja2 import BaseLoader, Template, TemplateNotFound

from bench.baselines.inline_render import InlineRenderer
from dyndash_common.settings import get_settings
from dyndash_common.site import Catalog
from dyndash_common.templating import DashboardSandbox, RenderBudget
from dyndash_gateway.app import create_app


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
        admit: Callable[[], None] | None = None,
    ) -> str:
        if admit is not None:
            admit()

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    settings = get_settings()
    renderer = InlineRenderer(RenderBudget.from_settings(settings), threads=2)
    app = create_app(settings, render_with=lambda catalog: InlineTemplates(catalog, renderer))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=arguments.port,
        log_config=None,
        access_log=False,
        http="httptools",
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
