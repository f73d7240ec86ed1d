"""The renderer: how soon a change is pre-rendered, and whether the first request hits.

  warm-after-write   PUT a template used by 50 routes; time from the admin API's 200 until all
                     50 pages are in L2, with 1 and with 2 renderer replicas (one render process
                     each, as one ECS task of one vCPU); then a fresh gateway requests all 50.
  first request      with a renderer running, 200 trials: PUT, wait 50 ms after the 200, GET;
                     share of hits carrying the new version, p99 latency of those GETs beside a
                     steady-state hit.
  job latency        enqueue -> start of the warm jobs, p50 and p99.

    uv run python -m bench.renderer [--trials 200]

Needs PostgreSQL and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
from arq.connections import ArqRedis
from redis.asyncio import Redis

from bench.harness import dyndash, free_port, process
from dyndash_admin_api.operations.routes import create_route
from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import change
from dyndash_common.db.engine import Database, create_engine
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from dyndash_common.site import keys
from dyndash_common.site.state import GatewayState
from tests.utils.backends import (
    ADMIN_SECRET,
    TEST_PEPPER,
    create_postgres_database,
    delete_redis_prefix,
    drop_postgres_database,
)
from tests.utils.services import REDIS_URL

ROUTES = 50
PAGE = "<h1>{{ 'v' }}{{ marker }}</h1>{% for i in range(300) %}<p>row {{ i }}</p>{% endfor %}"


async def seed(database_url: str) -> None:
    runtime = build_runtime(Settings(database_url=database_url))
    async with change(runtime) as changes:
        shared = await create_template(
            changes, {"name": "shared", "html_content": PAGE}, None, None
        )
        first = await create_template(
            changes, {"name": "first", "html_content": "<p>0</p>"}, None, None
        )
        for n in range(ROUTES):
            await create_route(changes, _route(f"/r{n}", shared.id))
        await create_route(changes, _route("/first", first.id))
    await runtime.close()


def _route(path: str, template_id: int) -> dict[str, Any]:
    return {
        "path": path,
        "template_id": template_id,
        "method": "GET",
        "is_active": True,
        "handler_config": {"cache_ttl": 300, "context": {"marker": ""}},
    }


async def expected_keys(database_url: str, prefix: str) -> list[str]:
    database = Database(create_engine(database_url))
    state = GatewayState()
    async with database.read() as session:
        await state.load(session)
    await database.dispose()
    routes = [r for r in state.routes.static.values() if r.path.startswith("/r")]
    return [
        f"{prefix}:cache:"
        + keys.shared_key(keys.page_key(r, {}, {}), keys.page_signature(state, r, "shared"))
        for r in routes
    ]


@contextlib.contextmanager
def renderers(count: int, env: dict[str, str]) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            port = free_port()  # a dummy health URL: workers answer no HTTP
            stack.enter_context(_worker(env, port))
        yield


@contextlib.contextmanager
def _worker(env: dict[str, str], _port: int) -> Iterator[None]:
    import os
    import signal
    import subprocess
    import sys

    worker = subprocess.Popen(
        [sys.executable, "-m", "dyndash.cli", "renderer"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(3.0)  # imported, connected, polling
        yield
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=20)


async def warm_after_write(
    admin: httpx.AsyncClient, env: dict[str, str], database_url: str, prefix: str, round_: int
) -> tuple[float, int]:
    redis = Redis.from_url(REDIS_URL)
    shared = (await admin.get("/api/v1/templates", params={"name": "shared"})).json()
    template_id = shared["data"]["items"][0]["id"]
    html = PAGE.replace("{{ 'v' }}", f"{{{{ 'v{round_}' }}}}")
    response = await admin.put(f"/api/v1/templates/{template_id}", json={"html_content": html})
    assert response.status_code == 200, response.text
    answered = time.perf_counter()
    wanted = await expected_keys(database_url, prefix)
    deadline = time.perf_counter() + 120
    while True:
        present = sum(await asyncio.gather(*(redis.exists(key) for key in wanted)))
        if present == len(wanted):
            break
        if time.perf_counter() > deadline:
            pool = ArqRedis(redis.connection_pool, job_deserializer=orjson.loads)
            for result in await pool.all_job_results():
                if (result.job_id or "").startswith(prefix) and "sweep" not in (
                    result.job_id or ""
                ):
                    print("JOB", result.job_id, result.success, str(result.result)[:300])
            raise RuntimeError(f"only {present} of {len(wanted)} pages reached L2 in 120 s")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - answered
    await redis.aclose()
    port = free_port()
    hits = 0
    with process(dyndash("gateway", port), env, f"http://127.0.0.1:{port}/healthz"):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as web:
            for n in range(ROUTES):
                page = await web.get(f"/r{n}")
                hits += page.headers["x-cache"] == "HIT-L2" and f"v{round_}" in page.text
    return elapsed, hits


async def first_requests(
    admin: httpx.AsyncClient, web: httpx.AsyncClient, trials: int
) -> tuple[float, list[float], list[float]]:
    first = (await admin.get("/api/v1/templates", params={"name": "first"})).json()
    template_id = first["data"]["items"][0]["id"]
    hits, first_ms, steady_ms = 0, [], []
    for trial in range(trials):
        marker = f"trial-{trial}-{uuid.uuid4().hex[:6]}"
        response = await admin.put(
            f"/api/v1/templates/{template_id}", json={"html_content": f"<p>{marker}</p>"}
        )
        assert response.status_code == 200
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        page = await web.get("/first")
        first_ms.append((time.perf_counter() - started) * 1000)
        hits += page.headers["x-cache"].startswith("HIT") and marker in page.text

        started = time.perf_counter()
        await web.get("/first")
        steady_ms.append((time.perf_counter() - started) * 1000)
    return hits / trials, first_ms, steady_ms


async def job_latencies(prefix: str) -> list[float]:
    redis = Redis.from_url(REDIS_URL)
    pool = ArqRedis(redis.connection_pool, job_deserializer=orjson.loads)
    results = await pool.all_job_results()
    await redis.aclose()
    return [
        (r.start_time - r.enqueue_time).total_seconds() * 1000
        for r in results
        if (r.job_id or "").startswith(f"{prefix}:warm:")
    ]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(arguments: argparse.Namespace) -> None:
    database_url = await create_postgres_database()
    prefix = f"dyndash-bench-{uuid.uuid4().hex[:8]}"
    await seed(database_url)
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "DYNDASH_REDIS_PREFIX": prefix,
        "DYNDASH_KEY_PEPPER": TEST_PEPPER,
        "DYNDASH_BOOTSTRAP_API_KEY": ADMIN_SECRET,
        "DYNDASH_GATEWAY_RATE_LIMIT_REQUESTS": "0",
        "DYNDASH_RATE_LIMIT_REQUESTS": "1000000",
        "DYNDASH_RENDERER_PROCESSES": "1",
        "DYNDASH_LOG_LEVEL": "WARNING",
    }
    admin_port, web_port = free_port(), free_port()
    try:
        with process(dyndash("admin", admin_port), env, f"http://127.0.0.1:{admin_port}/healthz"):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{admin_port}", headers={"X-API-Key": ADMIN_SECRET}
            ) as admin:
                print(f"warm-after-write: PUT a template used by {ROUTES} routes")
                times = {}
                for replicas in (1, 2):
                    with renderers(replicas, env):
                        elapsed, hits = await warm_after_write(
                            admin, env, database_url, prefix, replicas
                        )
                    times[replicas] = elapsed
                    print(
                        f"  {replicas} replica(s): all {ROUTES} in L2 after "
                        f"{elapsed * 1000:7.1f} ms; "
                        f"fresh gateway: {hits}/{ROUTES} HIT-L2 with the new version"
                    )
                print(f"  speed-up with the second replica: {times[1] / times[2]:.2f}x")
                gateway = dyndash("gateway", web_port)
                with (
                    renderers(1, {**env, "DYNDASH_RENDERER_PROCESSES": "2"}),
                    process(gateway, env, f"http://127.0.0.1:{web_port}/healthz"),
                ):
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as web:
                        share, first_ms, steady_ms = await first_requests(
                            admin, web, arguments.trials
                        )
                print(
                    f"first request >= 50 ms after the 200, {arguments.trials} trials: "
                    f"{share * 100:.1f} % hits with the new version (target >= 95 %)   "
                    f"{'met' if share >= 0.95 else 'NOT MET'}"
                )
                print(
                    f"  latency of those first requests: p50 {statistics.median(first_ms):.2f} ms, "
                    f"p99 {p99(first_ms):.2f} ms; steady-state hit: "
                    f"p50 {statistics.median(steady_ms):.2f} ms, p99 {p99(steady_ms):.2f} ms"
                )
        latencies = await job_latencies(prefix)
        if latencies:
            print(
                f"job latency, enqueue -> start, {len(latencies)} jobs: "
                f"p50 {statistics.median(latencies):.1f} ms, p99 {p99(latencies):.1f} ms"
            )
    finally:
        await drop_postgres_database(database_url)
        await delete_redis_prefix(prefix)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    asyncio.run(run(parser.parse_args()))
