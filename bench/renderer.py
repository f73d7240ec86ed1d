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
import collections
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

from bench.harness import dyndash, free_port, process, service_env, wait_http
from dyndash_admin_api.operations.routes import create_route
from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import change
from dyndash_common.db import Database, create_engine
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from dyndash_common.site import SiteState, keys
from dyndash_common.templating import LocalCompiler
from tests.utils.backends import (
    ADMIN_SECRET,
    create_postgres_database,
    delete_redis_prefix,
    drop_postgres_database,
)
from tests.utils.services import REDIS_URL

ROUTES = 50
# A page with some work in it (a few milliseconds to render, like a dashboard with a table):
# with trivial pages a warm-up is all queueing overhead and a second replica has nothing to share.
PAGE = (
    "<h1>{{ 'v' }}{{ marker }}</h1><table>{% for i in range(2000) %}"
    "<tr><td>{{ i }}</td><td>{{ (i * 7) % 13 }}</td><td>{{ 'row-%d'|format(i)|upper }}</td></tr>"
    "{% endfor %}</table>"
)
ROUNDS = 3


async def seed(database_url: str) -> None:
    runtime = build_runtime(Settings(database_url=database_url))
    async with change(runtime) as changes:
        shared = await create_template(
            changes, {"name": "shared", "html_content": PAGE}, None, None, compiler=LocalCompiler()
        )
        first = await create_template(
            changes,
            {"name": "first", "html_content": "<p>0</p>"},
            None,
            None,
            compiler=LocalCompiler(),
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
    state = SiteState()
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
            stack.enter_context(_worker(env, free_port()))
        yield


@contextlib.contextmanager
def _worker(env: dict[str, str], metrics_port: int) -> Iterator[None]:
    import os
    import signal
    import subprocess
    import sys

    worker = subprocess.Popen(
        [sys.executable, "-m", "dyndash.cli", "renderer", "--metrics-port", str(metrics_port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(f"http://127.0.0.1:{metrics_port}/metrics")  # started up: pool and queue ready
        time.sleep(0.5)  # polling
        if worker.poll() is not None:
            raise RuntimeError(f"renderer exited with {worker.returncode}")
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
        # One EXISTS for all keys: the poller must not take the CPU the renderers are measured on.
        present = await redis.exists(*wanted)
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
        await asyncio.sleep(0.01)
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
) -> tuple[float, list[float], list[float], int]:
    first = (await admin.get("/api/v1/templates", params={"name": "first"})).json()
    template_id = first["data"]["items"][0]["id"]
    hits, first_ms, steady_ms = 0, [], []
    misses: collections.Counter[str] = collections.Counter()
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
        hit = page.headers["x-cache"].startswith("HIT") and marker in page.text
        hits += hit
        if not hit:
            misses[f"{page.headers['x-cache']}{'' if marker in page.text else ' (old)'}"] += 1

        started = time.perf_counter()
        await web.get("/first")
        steady_ms.append((time.perf_counter() - started) * 1000)
    if misses:
        print(f"  first requests that were not a hit, by X-Cache: {dict(misses)}")
    return hits / trials, first_ms, steady_ms, template_id


async def job_latencies(prefix: str, marker: str = "") -> tuple[list[float], list[float]]:
    """Enqueue -> start and enqueue -> finish of the warm jobs whose id contains `marker`."""
    redis = Redis.from_url(REDIS_URL)
    pool = ArqRedis(redis.connection_pool, job_deserializer=orjson.loads)
    results = await pool.all_job_results()
    await redis.aclose()
    mine = [r for r in results if (r.job_id or "").startswith(f"{prefix}:warm:{marker}")]
    return (
        [(r.start_time - r.enqueue_time).total_seconds() * 1000 for r in mine],
        [(r.finish_time - r.enqueue_time).total_seconds() * 1000 for r in mine],
    )


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(arguments: argparse.Namespace) -> None:
    database_url = await create_postgres_database()
    prefix = f"dyndash-bench-{uuid.uuid4().hex[:8]}"
    await seed(database_url)
    env = service_env(database_url, prefix, DYNDASH_RENDERER_PROCESSES="1")
    admin_port, web_port = free_port(), free_port()
    try:
        with process(dyndash("admin", admin_port), env, f"http://127.0.0.1:{admin_port}/healthz"):
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{admin_port}", headers={"X-API-Key": ADMIN_SECRET}
            ) as admin:
                print(f"warm-after-write: PUT a template used by {ROUTES} routes")
                times = {}
                for replicas in (1, 2):
                    rounds = []
                    with renderers(replicas, env):
                        for round_ in range(ROUNDS):
                            rounds.append(
                                await warm_after_write(
                                    admin, env, database_url, prefix, replicas * 10 + round_
                                )
                            )
                    times[replicas] = statistics.median(elapsed for elapsed, _ in rounds)
                    print(
                        f"  {replicas} replica(s): all {ROUTES} in L2 after "
                        f"{times[replicas] * 1000:7.1f} ms (median of {ROUNDS} changes: "
                        + ", ".join(f"{elapsed * 1000:.0f}" for elapsed, _ in rounds)
                        + f" ms); fresh gateway: {min(h for _, h in rounds)}/{ROUTES} "
                        "HIT-L2 with the new version"
                    )
                print(f"  speed-up with the second replica: {times[1] / times[2]:.2f}x")
                gateway = dyndash("gateway", web_port)
                with (
                    renderers(1, {**env, "DYNDASH_RENDERER_PROCESSES": "2"}),
                    process(gateway, env, f"http://127.0.0.1:{web_port}/healthz"),
                ):
                    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{web_port}") as web:
                        share, first_ms, steady_ms, first_id = await first_requests(
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
        first_jobs = f"template.updated:{first_id}:"
        for label, marker in (("all warm jobs", ""), ("first-request jobs", first_jobs)):
            started, finished = await job_latencies(prefix, marker)
            if started:
                print(
                    f"job latency, {label} ({len(started)}): enqueue -> start "
                    f"p50 {statistics.median(started):.1f} ms, p99 {p99(started):.1f} ms; "
                    f"enqueue -> done p50 {statistics.median(finished):.1f} ms, "
                    f"p99 {p99(finished):.1f} ms"
                )
    finally:
        await drop_postgres_database(database_url)
        await delete_redis_prefix(prefix)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    asyncio.run(run(parser.parse_args()))
