"""HTTP metrics for the FastAPI apps, and the /metrics body (served on the operator port) with
gauges read at scrape time.

Each service runs one uvicorn worker per container (DYNDASH_WORKERS=1 in the deployments), so
a scrape of a task sees that task's whole traffic; scale by tasks, not workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

from prometheus_client import REGISTRY, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator, metrics
from redis.asyncio import Redis
from starlette.applications import Starlette

from dyndash_common.cache.memory import MemoryCache
from dyndash_common.db.engine import Database
from dyndash_common.metrics import DB_POOL_IN_USE, L1_BYTES, L1_ENTRIES, REDIS_USED_MEMORY

REDIS_INFO_TIMEOUT_SECONDS = 0.5


@functools.cache
def _http_instrumentation() -> Callable[[metrics.Info], None]:
    # Built once per process: the instrumentator registers its collectors globally and, asked
    # again (tests build many apps in one process), would hand later apps no instrumentation.
    instrumentation = metrics.default()
    assert instrumentation is not None
    return instrumentation


# Event streams stay open for minutes: timed as requests they would swamp the latency figures.
EXCLUDED_HANDLERS = ["/api/v1/events", "/live/.*"]


def instrument_http(app: Starlette) -> None:
    """Request count, latency and sizes per route template and status class."""
    Instrumentator(excluded_handlers=EXCLUDED_HANDLERS).add(_http_instrumentation()).instrument(app)


async def scrape(
    database: Database, redis: Redis | None, memory: MemoryCache | None = None
) -> bytes:
    """This process's metrics in Prometheus text format, gauges refreshed first."""
    pool = database.engine.sync_engine.pool
    checked_out = getattr(pool, "checkedout", None)
    if callable(checked_out):
        DB_POOL_IN_USE.set(checked_out())
    if memory is not None:
        L1_BYTES.set(memory.bytes_used)
        L1_ENTRIES.set(len(memory))
    if redis is not None:
        # A scrape must answer even when Redis does not; the gauge keeps its last reading.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(REDIS_INFO_TIMEOUT_SECONDS):
                info = await redis.info("memory")
            REDIS_USED_MEMORY.set(float(info["used_memory"]))
    return generate_latest(REGISTRY)
