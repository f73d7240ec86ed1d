"""Fixtures: each API test runs on the embedded backend and on real PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from dyndash_admin_api.app import create_app
from tests.utils.backends import (
    ADMIN_SECRET,
    Backend,
    create_postgres_database,
    delete_redis_prefix,
    drop_postgres_database,
    postgres_backend,
    sqlite_backend,
    truncate_postgres,
)
from tests.utils.server import serve
from tests.utils.services import require_services

T = TypeVar("T")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One throwaway database for the session, migrated once, emptied between tests."""
    require_services()
    url = _run_apart(create_postgres_database())
    yield url
    _run_apart(drop_postgres_database(url))


def _run_apart(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a thread: the fixture may be first requested from
    inside a running test loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield await sqlite_backend(tmp_path)
        return
    url: str = request.getfixturevalue("postgres_url")
    await truncate_postgres(url)
    chosen = postgres_backend(url)
    yield chosen
    await delete_redis_prefix(chosen.settings.redis_prefix)


@dataclass
class Api:
    """A running admin API and a client holding the bootstrap admin key."""

    base_url: str
    client: httpx.AsyncClient
    backend: Backend

    async def create_template(
        self, name: str = "page", html: str = "<p>{{ 1 }}</p>", **extra: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/templates", json={"name": name, "html_content": html, **extra}
        )
        assert response.status_code == 201, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    async def create_dashboard(self, name: str = "main", **extra: Any) -> dict[str, Any]:
        response = await self.client.post("/api/v1/dashboards", json={"name": name, **extra})
        assert response.status_code == 201, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    async def create_key(self, *scopes: str, **extra: Any) -> str:
        response = await self.client.post(
            "/api/v1/keys", json={"name": "test", "scopes": list(scopes), **extra}
        )
        assert response.status_code == 201, response.text
        return response.json()["data"]["secret"]  # type: ignore[no-any-return]


async def start_api(backend: Backend) -> AsyncIterator[Api]:
    async with (
        serve(create_app(backend.settings), backend.settings) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": ADMIN_SECRET}, timeout=10
        ) as client,
    ):
        yield Api(base_url, client, backend)


@pytest.fixture
async def api(backend: Backend) -> AsyncIterator[Api]:
    async for running in start_api(backend):
        yield running
