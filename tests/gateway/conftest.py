"""A running admin API and gateway on one backend, sharing the event bus when embedded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devtools.cluster import free_port
from dyndash_admin_api.app import create_app as create_admin_app
from dyndash_common.events import InProcessBus
from dyndash_gateway.app import create_app as create_gateway_app
from dyndash_gateway.front import GatewayFront
from dyndash_gateway.gateway import Gateway
from tests.conftest import Api
from tests.utils.backends import ADMIN_SECRET, Backend
from tests.utils.server import serve


@dataclass
class Site:
    admin: Api
    web: httpx.AsyncClient
    front: GatewayFront
    # The services' operator ports' /metrics, when started with `metered=True`.
    admin_metrics: str = ""
    web_metrics: str = ""

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.front.holder.state.gateway
        return gateway

    async def page(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.web.get(path, **kwargs)

    async def eventually(
        self, path: str, check: Callable[[httpx.Response], bool], seconds: float = 5.0
    ) -> httpx.Response:
        """Poll until `check` holds: changes arrive by event, a few milliseconds later."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            response = await self.page(path)
            if check(response) or asyncio.get_running_loop().time() > deadline:
                return response
            await asyncio.sleep(0.01)

    async def publish_page(
        self, path: str, html: str, *, name: str = "page", **handler_config: Any
    ) -> dict[str, Any]:
        template = await self.admin.create_template(name, html)
        response = await self.admin.client.post(
            "/api/v1/routes",
            json={"path": path, "template_id": template["id"], "handler_config": handler_config},
        )
        assert response.status_code == 201, response.text
        route_id = response.json()["data"]["id"]
        await self.route_known(route_id)
        return {**template, "route_id": route_id}

    async def route_known(self, route_id: int, seconds: float = 5.0) -> None:
        """Wait until the gateway has applied the route's event (without requesting the page,
        which would fill the cache)."""
        state = self.gateway.state
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            known = list(state.routes.static.values()) + [r for _, r in state.routes.dynamic]
            if any(route.id == route_id for route in known):
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"route {route_id} never reached the gateway")


async def start_site(
    backend: Backend, gateway_settings: dict[str, Any] | None = None, *, metered: bool = False
) -> AsyncIterator[Site]:
    """`metered`: each service opens an operator port of its own."""
    bus = InProcessBus() if backend.name == "sqlite" else None
    admin_settings = backend.settings
    settings = backend.with_settings(**(gateway_settings or {})).settings
    metrics: dict[str, str] = {}
    if metered:
        admin_port, web_port = free_port(), free_port()
        admin_settings = admin_settings.model_copy(update={"metrics_port": admin_port})
        settings = settings.model_copy(update={"metrics_port": web_port})
        metrics = {
            "admin_metrics": f"http://127.0.0.1:{admin_port}/metrics",
            "web_metrics": f"http://127.0.0.1:{web_port}/metrics",
        }
    front = create_gateway_app(settings, bus=bus)
    async with (
        serve(create_admin_app(admin_settings, bus=bus), admin_settings) as admin_url,
        serve(front, settings, settings.gateway_server) as web_url,
        httpx.AsyncClient(
            base_url=admin_url, headers={"X-API-Key": ADMIN_SECRET}, timeout=10
        ) as admin_client,
        httpx.AsyncClient(base_url=web_url, timeout=10) as web,
    ):
        await front.holder.state.gateway.ready()
        yield Site(Api(admin_url, admin_client, backend), web, front, **metrics)


SiteFactory = Callable[..., Awaitable[Site]]


@pytest.fixture
async def site(backend: Backend) -> AsyncIterator[Site]:
    async for running in start_site(backend):
        yield running


@pytest.fixture
async def metered_site(backend: Backend) -> AsyncIterator[Site]:
    """A site whose services serve /metrics on operator ports (`admin_metrics`, `web_metrics`)."""
    async for running in start_site(backend, metered=True):
        yield running
