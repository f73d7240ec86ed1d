"""Arm B: the straightforward design a first version would take, written plainly.

Per request: Redis GET of the page; on a miss, fetch the route, its templates and the
dashboard from the database, `Environment.from_string`, render, SETEX 300. With
NAIVE_CACHE=off every request takes the miss path (the uncached arm).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from jinja2 import DictLoader, Environment
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from dyndash_common.db import Dashboard, Route, Template, Widget

CACHE = os.environ.get("NAIVE_CACHE", "on") == "on"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_async_engine(os.environ["DATABASE_URL"])
    app.state.sessions = async_sessionmaker(engine)
    app.state.redis = Redis.from_url(os.environ["REDIS_URL"])
    yield
    await app.state.redis.aclose()
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/{path:path}", response_class=HTMLResponse)
async def page(path: str, request: Request) -> HTMLResponse:
    key = f"page:/{path}"
    if CACHE:
        cached = await request.app.state.redis.get(key)
        if cached is not None:
            return HTMLResponse(cached)
    async with request.app.state.sessions() as session:
        route = (
            await session.execute(select(Route).where(Route.path == f"/{path}"))
        ).scalar_one_or_none()
        if route is None:
            return HTMLResponse("not found", status_code=404)
        templates = {
            t.name: t.html_content for t in (await session.execute(select(Template))).scalars()
        }
        page_template = await session.get(Template, route.template_id)
        context: dict[str, Any] = dict(route.handler_config.get("context", {}))
        if route.dashboard_id:
            dashboard = await session.get(Dashboard, route.dashboard_id)
            widgets = (
                await session.execute(
                    select(Widget).where(Widget.dashboard_id == route.dashboard_id)
                )
            ).scalars()
            context["dashboard"] = (
                {"id": dashboard.id, "title": dashboard.title} if dashboard else None
            )
            context["widgets"] = [{"key": w.key, "title": w.title, "data": w.data} for w in widgets]
    assert page_template is not None
    environment = Environment(loader=DictLoader(templates), autoescape=True)
    html = environment.from_string(page_template.html_content).render(
        **context, params={}, query={}, asset_url=lambda kind: ""
    )
    if CACHE:
        await request.app.state.redis.setex(key, 300, html)
    return HTMLResponse(html)
