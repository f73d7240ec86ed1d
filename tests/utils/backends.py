"""The two backends every API test runs on: embedded (SQLite, in-process) and real servers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dyndash_common.db import Database, create_engine, upgrade
from dyndash_common.settings import Settings
from tests.utils.services import POSTGRES_ADMIN_URL, REDIS_URL

ADMIN_SECRET = "ddk_test-bootstrap-admin-key-0123456789"
TEST_PEPPER = "test-pepper-0123456789-0123456789-abcdef"
TABLES = ("events", "widgets", "routes", "dashboards", "template_versions", "templates", "api_keys")


@dataclass
class Backend:
    name: str
    settings: Settings

    def with_settings(self, **changes: Any) -> Backend:
        return Backend(self.name, self.settings.model_copy(update=changes))


async def create_postgres_database() -> str:
    name = f"dyndash_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return url


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


async def sqlite_backend(directory: Path) -> Backend:
    url = f"sqlite+aiosqlite:///{directory / 'dyndash.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    return Backend("sqlite", _settings(database_url=url, redis_url=None))


def postgres_backend(url: str) -> Backend:
    prefix = f"dyndash-test-{uuid.uuid4().hex[:10]}"
    return Backend(
        "postgres", _settings(database_url=url, redis_url=REDIS_URL, redis_prefix=prefix)
    )


def _settings(**values: Any) -> Settings:
    return Settings(
        bootstrap_api_key=ADMIN_SECRET,
        key_pepper=TEST_PEPPER,
        outbox_sweep_interval_seconds=0.2,
        # Services and workers started by tests open no operator port (several share one
        # process); a test that scrapes gives its service a free one.
        renderer_metrics_port=0,
        metrics_port=0,
        **values,
    )


async def delete_redis_prefix(prefix: str) -> None:
    redis = Redis.from_url(REDIS_URL)
    keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    # arq's own keys (jobs, results, in-progress markers) carry our ids after its prefixes.
    keys += [key async for key in redis.scan_iter(match=f"arq:*{prefix}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def snapshot(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, to show a refused request changed nothing."""
    database = Database(create_engine(settings.database_url))
    state: dict[str, list[dict[str, Any]]] = {}
    async with database.read() as session:
        for table in TABLES:
            rows = (await session.execute(text(f"SELECT * FROM {table} ORDER BY id"))).mappings()
            state[table] = [
                {key: value for key, value in row.items() if key != "last_used_at"} for row in rows
            ]
    await database.dispose()
    return state
