"""Hostile templates against real serving processes: each class answers 503 (or 422 at
write) naming its limit, while the process keeps its pid, its other pages, its health check
and an event loop that never waits 50 ms.

PostgreSQL + Redis: `dyndash admin` and `dyndash gateway`, each its own process. Embedded:
`dyndash dev`, the admin API and the gateway in one process, whose warming renders a changed
page as soon as the write commits.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.cluster import free_port
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER, Backend

ROOT = Path(__file__).resolve().parents[2]
RENDER_TIMEOUT = 1.0
# What the serving process may reach while its renders allocate: its own RSS, not its
# children's (each of those is capped by the render memory budget).
SERVING_RSS_LIMIT_MIB = 250
PROBE_P99_LIMIT_MS = 100
# Probe samples per hostile class: enough for the 99th percentile to be one, not the maximum of
# a handful (a single scheduling hiccup of this 2-core machine would otherwise decide it).
PROBE_SAMPLES = 200
LOOP_LAG_LIMIT = "0.05"
LIMIT_NAMED = re.compile(r"memory|time budget|CPU|crashed|bits|nest", re.IGNORECASE)

HOSTILE = {
    # The audit's crash: a tuple nested 200,000 deep, hashed (a C stack overflow).
    "crash": "{% set ns = namespace(t=()) %}{% for i in range(20000) %}"
    "{% set ns.t = ((((((((((ns.t,),),),),),),),),),) %}{% endfor %}{{ {ns.t: 1}|length }}",
    # One long C call: hashing a DAG of 2**27 paths.
    "long-c-call": "{% set ns = namespace(t=()) %}{% for i in range(27) %}"
    "{% set ns.t = (ns.t, ns.t) %}{% endfor %}{{ {ns.t: 1}|length }}",
    "quadratic-sum": "{{ ([[1]] * 100000)|sum(start=[])|length }}",
    "huge-integer": "{{ ((10**1000)**1000)**5 }}",
    # Memory growth the string meter never sees: JSON of 10**10 numbers.
    "memory": "{{ ([range(100000)|list] * 100000)|tojson }}",
}
COMPILE_BOMB = "{{a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p}}" * 7_000


@dataclass
class Servers:
    admin: httpx.AsyncClient
    web: httpx.AsyncClient
    web_url: str
    serving: list[subprocess.Popen[bytes]]
    env: dict[str, str]
    metrics_url: str


def _env(backend: Backend) -> dict[str, str]:
    settings = backend.settings
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DYNDASH_KEY_PEPPER": TEST_PEPPER,
        "DYNDASH_BOOTSTRAP_API_KEY": ADMIN_SECRET,
        "DYNDASH_RENDER_TIMEOUT_SECONDS": str(RENDER_TIMEOUT),
        "DYNDASH_GATEWAY_RATE_LIMIT_REQUESTS": "0",
        "DYNDASH_LOG_LEVEL": "WARNING",
        # Only the process serving the site opens an operator port (see `servers`).
        "DYNDASH_METRICS_PORT": "0",
    }
    if settings.redis_url:
        env.update(REDIS_URL=settings.redis_url, DYNDASH_REDIS_PREFIX=settings.redis_prefix)
    else:
        env.pop("REDIS_URL", None)
    return env


@contextmanager
def _running(
    arguments: list[str], env: dict[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "dyndash.cli", *arguments],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


async def _up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, f"the server exited with {process.returncode}"
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never came up")


@pytest.fixture
async def servers(backend: Backend, tmp_path: Path) -> AsyncIterator[Servers]:
    env = _env(backend)
    admin_port, web_port, metrics_port = free_port(), free_port(), free_port()
    admin_url, web_url = f"http://127.0.0.1:{admin_port}", f"http://127.0.0.1:{web_port}"
    # The gateway's operator port; under `dev` it serves the one process's metrics.
    metered = {**env, "DYNDASH_METRICS_PORT": str(metrics_port)}
    if backend.name == "sqlite":
        commands = [(["dev", "--port", str(admin_port), "--gateway-port", str(web_port)], metered)]
    else:
        commands = [
            (["admin", "--port", str(admin_port)], env),
            (["gateway", "--port", str(web_port)], metered),
        ]
    with ExitStack() as stack:
        started = [
            stack.enter_context(_running(command, environment, tmp_path))
            for command, environment in commands
        ]
        await _up(f"{admin_url}/healthz", started[0])
        await _up(f"{web_url}/healthz", started[-1])
        async with (
            httpx.AsyncClient(
                base_url=admin_url, headers={"X-API-Key": ADMIN_SECRET}, timeout=30
            ) as admin,
            httpx.AsyncClient(base_url=web_url, timeout=30) as web,
        ):
            yield Servers(
                admin, web, web_url, started, env, f"http://127.0.0.1:{metrics_port}/metrics"
            )


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"process {pid} is gone")


def _lag_samples(metrics: str) -> tuple[float, float]:
    """(samples in all, samples within the limit) of the loop-lag histogram."""
    total = within = 0.0
    for line in metrics.splitlines():
        if line.startswith("dyndash_event_loop_lag_seconds_count"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f'dyndash_event_loop_lag_seconds_bucket{{le="{LOOP_LAG_LIMIT}"}}'):
            within += float(line.rsplit(" ", 1)[1])
    return total, within


async def _create(servers: Servers, name: str, html: str, *paths: str) -> int:
    template = await servers.admin.post(
        "/api/v1/templates", json={"name": name, "html_content": html}
    )
    assert template.status_code == 201, template.text
    template_id: int = template.json()["data"]["id"]
    for path in paths:
        route = await servers.admin.post(
            "/api/v1/routes", json={"path": path, "template_id": template_id}
        )
        assert route.status_code == 201, route.text
    return template_id


async def _eventually_served(servers: Servers, path: str) -> httpx.Response:
    for _ in range(200):
        response = await servers.web.get(path)
        if response.status_code != 404:
            return response
        await asyncio.sleep(0.025)
    raise AssertionError(f"{path} never reached the gateway")


async def _probe(
    servers: Servers, stop: asyncio.Event, latencies: list[float], health: list[int]
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        page = await servers.web.get("/probe")
        latencies.append((time.perf_counter() - started) * 1000)
        assert page.status_code == 200
        health.append((await servers.web.get("/healthz")).status_code)
        await asyncio.sleep(0.005)


async def _requested_concurrently(
    servers: Servers, paths: list[str], concurrency: int = 10
) -> list[httpx.Response]:
    slots = asyncio.Semaphore(concurrency)

    async def one(path: str) -> httpx.Response:
        async with slots:
            return await servers.web.get(path)

    return await asyncio.gather(*(one(path) for path in paths))


async def _probed(
    servers: Servers, hostile: list[str], latencies: list[float], *, until: int, concurrency: int
) -> list[httpx.Response]:
    """Request `hostile` while the probe samples the cached page, in rounds until the probe
    has `until` samples (at least one round); `/healthz` must answer 200 throughout."""
    stop = asyncio.Event()
    health: list[int] = []
    probe = asyncio.create_task(_probe(servers, stop, latencies, health))
    answers = await _requested_concurrently(servers, hostile, concurrency)
    for _ in range(200):
        if len(latencies) >= until or probe.done():
            break
        answers += await _requested_concurrently(servers, hostile, concurrency)
    stop.set()
    await probe
    assert health
    assert set(health) == {200}, health
    return answers


def _check_refused(kind: str, answers: list[httpx.Response]) -> None:
    for answer in answers:
        assert answer.status_code == 503, (kind, answer.status_code, answer.text[:300])
        assert LIMIT_NAMED.search(answer.text), (kind, answer.text[:300])
        assert "Traceback" not in answer.text


async def test_hostile_templates_cannot_hurt_the_serving_processes(servers: Servers) -> None:
    pids = [process.pid for process in servers.serving]
    await _create(servers, "probe", "<p>probe</p>", "/probe")
    assert (await _eventually_served(servers, "/probe")).status_code == 200
    late_by_kind: dict[str, float] = {}
    samples = 0.0
    latencies_by_kind: dict[str, list[float]] = {}
    for kind, source in HOSTILE.items():
        lag_before = _lag_samples((await servers.web.get(servers.metrics_url)).text)
        # Written harmless first, then made hostile by a PUT: on the embedded default the
        # change is warmed in-process as soon as it commits (the audit's `dyndash dev` crash).
        # The route without params is warmed after each change (in-process when embedded).
        template_id = await _create(servers, kind, "<p>fine</p>", f"/{kind}", f"/{kind}/{{n}}")
        put = await servers.admin.put(
            f"/api/v1/templates/{template_id}", json={"html_content": source}
        )
        assert put.status_code == 200, put.text
        assert (await servers.admin.get("/healthz")).status_code == 200
        await _eventually_served(servers, f"/{kind}/first")

        # The burst the issue describes: 50 distinct values, ten at a time, probed meanwhile.
        latencies = latencies_by_kind[kind] = []
        hostile = [f"/{kind}/{n}" for n in range(50)]
        _check_refused(kind, await _probed(servers, hostile, latencies, until=0, concurrency=10))
        for process, pid in zip(servers.serving, pids, strict=True):
            assert process.poll() is None, f"{kind} ended process {pid}"
            assert _rss_mib(pid) < SERVING_RSS_LIMIT_MIB, (kind, _rss_mib(pid))

        # Remembered for the version (recorded in the background): the API says why.
        for _ in range(100):
            status = (await servers.admin.get(f"/api/v1/templates/{template_id}")).json()
            if status["data"]["render_status"] == "failed":
                break
            await asyncio.sleep(0.05)
        assert status["data"]["render_status"] == "failed", (kind, status)
        lag_after = _lag_samples((await servers.web.get(servers.metrics_url)).text)
        samples += lag_after[0] - lag_before[0]
        late_by_kind[kind] = (lag_after[0] - lag_before[0]) - (lag_after[1] - lag_before[1])

    print(f"loop-lag samples over {LOOP_LAG_LIMIT} s, of {samples:g}: {late_by_kind}")
    assert samples > 0
    assert sum(late_by_kind.values()) == 0, (
        f"loop-lag samples over {LOOP_LAG_LIMIT} s, of {samples:g}: {late_by_kind}"
    )

    # The burst lasts as long as 3-5 probe requests: their "p99" would be their maximum, which
    # one scheduling hiccup of a 2-core machine decides. The same values are requested again,
    # two at a time (answered from the remembered failure), until the probe has enough samples
    # for a 99th percentile; this comes after every loop-lag window above, so the many requests
    # it takes do not weigh on them.
    for kind, latencies in latencies_by_kind.items():
        hostile = [f"/{kind}/{n}" for n in range(50)]
        answers = await _probed(servers, hostile, latencies, until=PROBE_SAMPLES, concurrency=2)
        _check_refused(kind, answers)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        print(f"{kind}: probe p99 {p99:.1f} ms over {len(latencies)} requests")
        assert p99 < PROBE_P99_LIMIT_MS, (kind, p99)
    for process, pid in zip(servers.serving, pids, strict=True):
        assert process.poll() is None, f"ended process {pid}"


async def test_a_compile_bomb_is_refused_at_write(servers: Servers) -> None:
    response = await servers.admin.post(
        "/api/v1/templates", json={"name": "bomb", "html_content": COMPILE_BOMB}
    )
    assert response.status_code == 422, response.text
    assert "could not be compiled within its" in response.json()["message"]
    assert (await servers.admin.get("/api/v1/templates", params={"name": "bomb"})).json()["data"][
        "total"
    ] == 0
    assert all(process.poll() is None for process in servers.serving)
    assert (await servers.admin.get("/healthz")).status_code == 200


async def test_a_failed_version_is_not_rendered_again_anywhere(
    servers: Servers, backend: Backend, tmp_path: Path
) -> None:
    template_id = await _create(servers, "slow", "<p>fine</p>", "/slow/{n}")
    slow = HOSTILE["long-c-call"]
    put = await servers.admin.put(f"/api/v1/templates/{template_id}", json={"html_content": slow})
    assert put.status_code == 200, put.text
    # A new variant each time: one served before the change would come back STALE (its last
    # good render), not 503.
    for attempt in range(400):
        first = await servers.web.get(f"/slow/a{attempt}")
        if first.status_code == 503:
            break
        await asyncio.sleep(0.025)
    assert first.status_code == 503, (first.headers, first.text)
    started = time.perf_counter()
    again = await servers.web.get("/slow/b")
    assert again.status_code == 503, (again.headers, again.text)
    assert "not rendered again" in again.text
    assert time.perf_counter() - started < RENDER_TIMEOUT / 2, "a failed version was rendered"
    if backend.name == "postgres":
        # A gateway started afterwards learns it from the database, not by failing again.
        port = free_port()
        with _running(["gateway", "--port", str(port)], servers.env, tmp_path) as fresh:
            await _up(f"http://127.0.0.1:{port}/healthz", fresh)
            async with httpx.AsyncClient(timeout=10) as web:
                for _ in range(200):
                    page = await web.get(f"http://127.0.0.1:{port}/slow/c")
                    if page.status_code != 404:
                        break
                    await asyncio.sleep(0.025)
            assert page.status_code == 503, page.text
            assert "not rendered again" in page.text
    # A new version is rendered again.
    await servers.admin.put(f"/api/v1/templates/{template_id}", json={"html_content": "<b>ok</b>"})
    for _ in range(200):
        fixed = await servers.web.get("/slow/d")
        if fixed.status_code == 200:
            break
        await asyncio.sleep(0.025)
    assert fixed.text == "<b>ok</b>"
