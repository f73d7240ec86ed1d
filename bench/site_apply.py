"""Sites as code at scale: one apply of a 1,000-template, 1,000-route site to an empty server,
then a no-op re-apply of the same bundle.

For each backend (embedded SQLite; PostgreSQL + Redis when reachable) this starts the admin
API, posts the bundle to `POST /api/v1/site/apply` and prints the wall time of each apply, the
template versions and events it created, against the targets: full apply ≤ 10 s; re-apply
≤ 2 s with 0 versions and 0 events.

    uv run python -m bench.site_apply [--templates 1000] [--routes 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from dyndash_admin_api.app import create_app
from dyndash_common.db import Database, Event, TemplateVersion, create_engine
from tests.utils.backends import (
    ADMIN_SECRET,
    Backend,
    create_postgres_database,
    drop_postgres_database,
    postgres_backend,
    sqlite_backend,
)
from tests.utils.server import serve
from tests.utils.services import reachable

FULL_TARGET_SECONDS = 10.0
NOOP_TARGET_SECONDS = 2.0


def bundle(templates: int, routes: int) -> dict[str, Any]:
    """A layout every page extends, a shared header every page includes, and pages."""
    pages = [
        {
            "name": f"pages/p{i:04d}",
            "html_content": '{% extends "layout" %}{% block body %}'
            f'{{% include "partials/header" %}}<p>page {i}: {{{{ title }}}}</p>{{% endblock %}}',
            "css_content": f".p{i} {{ color: #{i % 0xFFFFFF:06x}; }}",
            "config": {"n": i},
        }
        for i in range(templates - 2)
    ]
    return {
        "templates": [
            {"name": "layout", "html_content": "<main>{% block body %}{% endblock %}</main>"},
            {"name": "partials/header", "html_content": "<h1>{{ title }}</h1>"},
            *pages,
        ],
        "routes": [
            {
                "path": f"/r/{i}",
                "template": pages[i % len(pages)]["name"],
                "handler_config": {"context": {"title": f"route {i}"}},
            }
            for i in range(routes)
        ],
        "dashboards": [],
    }


async def counts(backend: Backend) -> tuple[int, int]:
    database = Database(create_engine(backend.settings.database_url))
    try:
        async with database.read() as session:
            versions = (await session.execute(select(func.count(TemplateVersion.id)))).scalar_one()
            events = (await session.execute(select(func.count(Event.id)))).scalar_one()
    finally:
        await database.dispose()
    return int(versions), int(events)


async def measure(name: str, backend: Backend, site: dict[str, Any]) -> None:
    settings = backend.settings.model_copy(update={"rate_limit_requests": 1_000_000})
    async with (
        serve(create_app(settings), settings) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": ADMIN_SECRET}, timeout=120
        ) as client,
    ):
        for label, target in (
            ("full apply", FULL_TARGET_SECONDS),
            ("re-apply", NOOP_TARGET_SECONDS),
        ):
            before = await counts(backend)
            started = time.perf_counter()
            response = await client.post("/api/v1/site/apply", json={"bundle": site})
            seconds = time.perf_counter() - started
            assert response.status_code == 200, response.text[:500]
            after = await counts(backend)
            summary = response.json()["data"]["summary"]
            versions, events = after[0] - before[0], after[1] - before[1]
            print(
                f"{name:<20} {label:<10} {seconds:6.2f} s (target ≤ {target:.0f} s, "
                f"{seconds / target:4.2f} of it)  template versions created {versions:5d}"
                f"  events {events}  "
                f"create {summary['create']} update {summary['update']} "
                f"unchanged {summary['unchanged']}"
            )


async def main(templates: int, routes: int) -> None:
    site = bundle(templates, routes)
    size = len(httpx.Request("POST", "http://x", json={"bundle": site}).content)
    print(f"site apply: {templates} templates, {routes} routes, body {size / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as directory:
        await measure("sqlite + in-process", await sqlite_backend(Path(directory)), site)
    if reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379):
        url = await create_postgres_database()
        try:
            await measure("postgresql + redis", postgres_backend(url), site)
        finally:
            await drop_postgres_database(url)
    else:
        print("postgresql + redis   not reachable on 127.0.0.1; arm skipped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--templates", type=int, default=1000)
    parser.add_argument("--routes", type=int, default=1000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.templates, arguments.routes))
