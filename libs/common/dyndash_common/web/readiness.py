"""Readiness: whether a service's dependencies answer, each within a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from sqlalchemy import text

from dyndash_common.runtime import Runtime

READY_TIMEOUT_SECONDS = 1.0


async def dependency_checks(runtime: Runtime) -> dict[str, str]:
    """`ok` or `failed: <why>` for the database and, when there is one, Redis."""

    async def database() -> None:
        async with runtime.database.read() as session:
            await session.execute(text("SELECT 1"))

    async def redis() -> None:
        assert runtime.redis is not None
        await runtime.redis.ping()

    probes: dict[str, Callable[[], Awaitable[None]]] = {"database": database}
    if runtime.redis is not None:
        probes["redis"] = redis
    checks: dict[str, str] = {}
    for name, probe in probes.items():
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                await probe()
            checks[name] = "ok"
        except Exception as error:
            checks[name] = f"failed: {type(error).__name__}"
    return checks
