"""The gateway against its ceilings and the seed's naive design, in one run.

Arms (one server process each, one worker, the same wrk settings):
  A  bare Starlette on uvicorn returning the page's bytes   (the Python ceiling)
  G  the same app on granian                                (the faster server's ceiling)
  N  nginx serving the page as a static file                (no Python; when installed)
  B  the seed's naive design, page cached in Redis          (bench/baselines/naive_seed.py)
  B0 the same with its cache off: DB + from_string + render per request
  C  dyndash gateway as shipped (granian), page in L1
  C-br  the same with Accept-Encoding: br                   (the 11 KB page in ~2 KB)
  Cu dyndash gateway on uvicorn (DYNDASH_GATEWAY_SERVER=uvicorn), page in L1
  D  dyndash gateway, L1 off, L2 (Redis) only
  E  dyndash gateway, cache off: DB fetch + render per request
Then: invalidation seen by 3 gateways after the admin API's 200; 200 concurrent requests on a
cold page; gateway RSS under a load of distinct pages with a 64 MiB L1.

    uv run python -m bench.gateway [--seconds 10] [--rounds 5] [--soak-seconds 60]

A, G, C and C-br, which the targets compare, run in interleaved rounds (A G C C-br, A G C
C-br, ...), and each reports the median of its rounds; the other arms run once.

Needs PostgreSQL and Redis on 127.0.0.1 and `wrk` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import httpx

from bench.harness import (
    Load,
    dyndash,
    free_port,
    granian,
    nginx,
    process,
    rss_mib,
    service_env,
    uvicorn,
    wrk,
)
from dyndash.demo import seed_demo
from dyndash_admin_api.operations.routes import create_route
from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import change
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from dyndash_common.templating import LocalCompiler
from tests.utils.backends import (
    ADMIN_SECRET,
    create_postgres_database,
    delete_redis_prefix,
    drop_postgres_database,
)

# The demo's own page is about 0.5 KB: the throughput arms serve a dashboard of the size of
# the reference page (11.3 KB) in the demo's layout; invalidation is timed on the demo page.
PAGE = "/dashboard"
DEMO_PAGE = "/classic"
DASHBOARD = """{% extends "demo-layout" %}
{% block title %}Sales by region{% endblock %}
{% block content %}
<h1>Sales by region</h1>
<table class="sales">
<thead><tr><th>Region</th><th>Orders</th><th>Revenue</th><th>Change</th></tr></thead>
<tbody>
{%- for i in range(155) %}
<tr><td>Region {{ i }}</td><td>{{ (i * 37) % 997 }}</td><td>{{ (i * 7919) % 100000 }} EUR</td>
<td>{{ (i * 13) % 21 - 10 }} %</td></tr>
{%- endfor %}
</tbody>
</table>
{% endblock %}
"""
BIG_PAGE = "{% for i in range(400) %}<p>row {{ i }} of {{ params.n }}</p>{% endfor %}"
BROTLI = "Accept-Encoding: br"
# The arms the targets compare (C against A and G, and C-br's body).
TARGET_ARMS = ("A", "G", "C", "C-br")


async def seed(database_url: str) -> None:
    runtime = build_runtime(Settings(database_url=database_url))
    await seed_demo(runtime)
    async with change(runtime) as changes:
        big = await create_template(
            changes, {"name": "big", "html_content": BIG_PAGE}, None, None, compiler=LocalCompiler()
        )
        dashboard = await create_template(
            changes,
            {"name": "bench-dashboard", "html_content": DASHBOARD},
            None,
            None,
            compiler=LocalCompiler(),
        )
        await create_route(
            changes,
            {
                "path": PAGE,
                "template_id": dashboard.id,
                "method": "GET",
                "is_active": True,
                "handler_config": {"cache_ttl": 300},
            },
        )
        await create_route(
            changes,
            {
                "path": "/big/{n}",
                "template_id": big.id,
                "method": "GET",
                "is_active": True,
                "handler_config": {"cache_ttl": 300},
            },
        )
    await runtime.close()


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def fetch_headers(url: str) -> list[tuple[str, str]]:
    """The response headers a page is sent with, less those every server adds itself."""
    own = {"date", "server", "content-length", "content-type", "x-request-id", "connection"}
    with urllib.request.urlopen(url, timeout=10) as response:
        return [(name, value) for name, value in response.getheaders() if name.lower() not in own]


def measure_arm(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    seconds: int,
    headers: tuple[str, ...] = (),
) -> Load:
    url = f"http://127.0.0.1:{port}{PAGE}"
    with process(command, env, url):
        fetch(url)
        wrk(url, seconds=2, connections=32, headers=headers)
        load = wrk(url, seconds=seconds, connections=32, headers=headers)
    print(
        f"  {name:<34} {load.requests_per_second:10.0f} req/s   p50 {load.p50_ms:7.2f} ms   "
        f"p99 {load.p99_ms:7.2f} ms   non-2xx {load.errors}",
        flush=True,
    )
    return load


def throughput(
    env: dict[str, str], body_file: Path, seconds: int, rounds_wanted: int
) -> tuple[dict[str, Load], dict[str, int]]:
    """Each arm's load, and the page's size in each encoding."""
    arms: dict[str, Load] = {}
    gateway = {**env, "DYNDASH_GATEWAY_L1_MAX_BYTES": str(64 * 1024 * 1024)}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process(dyndash("gateway", port), gateway, f"{base}/healthz"):
        time.sleep(0.5)
        body_file.write_bytes(fetch(f"{base}{PAGE}"))
        headers = fetch_headers(f"{base}{PAGE}")
        sizes = {
            coding: len(fetch(f"{base}{PAGE}", {"Accept-Encoding": coding}))
            for coding in ("identity", "gzip", "br")
        }
    headers_file = body_file.with_suffix(".headers.json")
    # x-request-id is new per response; a fixed one stands in for it.
    headers_file.write_text(json.dumps([*headers, ("x-request-id", "0123456789abcdef")]))
    print(
        f"page: {PAGE} ({sizes['identity']} bytes; gzip {sizes['gzip']}, br {sizes['br']}), "
        f"wrk -t1 -c32 -d{seconds}s"
    )
    bare = {"BENCH_BODY": str(body_file)}
    static = body_file.parent / "nginx"
    static.mkdir(exist_ok=True)
    plan: list[tuple[str, str, dict[str, str], tuple[str, ...]]] = [
        ("A", "A bare Starlette, uvicorn", bare, ()),
        ("G", "G bare Starlette, granian", bare, ()),
        ("N", "N nginx, static file", {}, ()),
        (
            "A2",
            "A2 bare Starlette, dyndash's headers",
            {**bare, "BENCH_HEADERS": str(headers_file)},
            (),
        ),
        ("B", "B naive seed, Redis-cached", {"NAIVE_CACHE": "on"}, ()),
        ("B0", "B0 naive seed, uncached", {"NAIVE_CACHE": "off"}, ()),
        ("C", "C dyndash (granian), L1", gateway, ()),
        ("C-br", "C-br dyndash (granian), L1, br", gateway, (BROTLI,)),
        ("Cu", "Cu dyndash on uvicorn, L1", {**gateway, "DYNDASH_GATEWAY_SERVER": "uvicorn"}, ()),
        ("D", "D dyndash, L1 off, L2 only", {**gateway, "DYNDASH_GATEWAY_L1_MAX_BYTES": "0"}, ()),
        (
            "E",
            "E dyndash, cache off",
            {**gateway, "DYNDASH_GATEWAY_L1_MAX_BYTES": "0", "DYNDASH_GATEWAY_L2_ENABLED": "false"},
            (),
        ),
    ]
    # The arms the targets compare run in interleaved rounds, and each reports its median
    # round: on a shared machine the load of other work drifts over a run, and an arm measured
    # once, minutes after the arm it is compared with, carries that drift into the ratio.
    rounds: dict[str, list[Load]] = {}
    order = [arm for arm in plan if arm[0] in TARGET_ARMS] * max(1, rounds_wanted)
    order += [arm for arm in plan if arm[0] not in TARGET_ARMS]
    for key, label, extra, request_headers in order:
        port = free_port()
        command: list[str] | None
        if key in ("A", "A2"):
            command = uvicorn("bench.baselines.bare_starlette:app", port)
        elif key == "G":
            command = granian("bench.baselines.bare_starlette:app", port)
        elif key == "N":
            command = nginx(static, body_file, port)
            if command is None:
                print("  N nginx, static file                 skipped: nginx is not installed")
                continue
        elif key.startswith("B"):
            command = uvicorn("bench.baselines.naive_seed:app", port)
        else:
            command = dyndash("gateway", port)
        rounds.setdefault(key, []).append(
            measure_arm(label, command, {**env, **extra}, port, seconds, headers=request_headers)
        )
    for key, loads in rounds.items():
        arms[key] = median_load(loads)
        if len(loads) > 1:
            print(
                f"  {key:<4} median of {len(loads)} rounds: "
                f"{arms[key].requests_per_second:.0f} req/s, p99 {arms[key].p99_ms:.2f} ms"
            )
    return arms, sizes


def median_load(loads: list[Load]) -> Load:
    """Each figure's median over the rounds (errors summed)."""
    return Load(
        requests_per_second=statistics.median(load.requests_per_second for load in loads),
        p50_ms=statistics.median(load.p50_ms for load in loads),
        p99_ms=statistics.median(load.p99_ms for load in loads),
        errors=sum(load.errors for load in loads),
    )


async def invalidation(env: dict[str, str], trials: int) -> list[float]:
    """ms from the admin API's 200 to each of 3 gateways serving the new version."""
    admin_port = free_port()
    ports = [free_port() for _ in range(3)]
    admin = process(dyndash("admin", admin_port), env, f"http://127.0.0.1:{admin_port}/healthz")
    gateways = [
        process(dyndash("gateway", port), env, f"http://127.0.0.1:{port}/healthz") for port in ports
    ]
    latencies: list[float] = []
    with admin, gateways[0], gateways[1], gateways[2]:
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{admin_port}", headers={"X-API-Key": ADMIN_SECRET}
            ) as client,
            httpx.AsyncClient(timeout=5) as web,
        ):
            template = (await client.get("/api/v1/templates", params={"name": "demo-page"})).json()
            template_id = template["data"]["items"][0]["id"]
            current = (await client.get(f"/api/v1/templates/{template_id}")).json()["data"]
            for port in ports:
                await web.get(f"http://127.0.0.1:{port}{DEMO_PAGE}")
            for trial in range(trials):
                marker = f"trial-{trial}-{uuid.uuid4().hex[:6]}"
                html = current["html_content"].replace(
                    "{% endblock %}", f"<!--{marker}-->{{% endblock %}}", 1
                )
                response = await client.put(
                    f"/api/v1/templates/{template_id}", json={"html_content": html}
                )
                assert response.status_code == 200, response.text
                answered = time.perf_counter()

                async def seen(port: int, marker: str, answered: float) -> float:
                    while True:
                        page = await web.get(f"http://127.0.0.1:{port}{DEMO_PAGE}")
                        if marker in page.text:
                            return (time.perf_counter() - answered) * 1000
                        await asyncio.sleep(0.001)

                latencies.extend(
                    await asyncio.gather(*(seen(port, marker, answered) for port in ports))
                )
    return latencies


async def cold_page(env: dict[str, str]) -> tuple[int, int]:
    port, metrics_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    metrics = f"http://127.0.0.1:{metrics_port}/metrics"
    metered = {**env, "DYNDASH_METRICS_PORT": str(metrics_port)}
    with process(dyndash("gateway", port), metered, f"{base}/healthz"):
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200), timeout=30) as web:
            before = renders((await web.get(metrics)).text)
            responses = await asyncio.gather(*(web.get(f"{base}/sales/cold") for _ in range(200)))
            after = renders((await web.get(metrics)).text)
    return after - before, sum(r.status_code == 200 for r in responses)


def renders(metrics: str) -> int:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("dyndash_renders_total{") and 'outcome="ok"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def soak(env: dict[str, str], seconds: int) -> list[tuple[float, float]]:
    port = free_port()
    script = Path(tempfile.mkdtemp()) / "distinct.lua"
    script.write_text(
        'request = function() return wrk.format("GET", "/big/" .. math.random(1, 50000)) end\n'
    )
    samples: list[tuple[float, float]] = []
    settings = {**env, "DYNDASH_GATEWAY_L1_MAX_BYTES": str(64 * 1024 * 1024)}
    with process(dyndash("gateway", port), settings, f"http://127.0.0.1:{port}/healthz") as proc:
        load = subprocess.Popen(
            ["wrk", "-t1", "-c16", f"-d{seconds}s", "-s", str(script), f"http://127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
        )
        started = time.monotonic()
        while load.poll() is None:
            samples.append((time.monotonic() - started, rss_mib(proc.pid)))
            time.sleep(max(1.0, seconds / 20))
        samples.append((time.monotonic() - started, rss_mib(proc.pid)))
    return samples


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def report(
    arms: dict[str, Load],
    sizes: dict[str, int],
    lags: list[float],
    cold: tuple[int, int],
    rss: list[tuple[float, float]],
) -> None:
    def ratio(a: str, b: str) -> float:
        return arms[a].requests_per_second / arms[b].requests_per_second

    tail = arms["C"].p99_ms / arms["G"].p99_ms
    smaller = sizes["br"] / sizes["gzip"]
    checks: list[tuple[str, float, str, bool]] = [
        ("C / A", ratio("C", "A"), ">= 1.3", ratio("C", "A") >= 1.3),
        ("C / G", ratio("C", "G"), ">= 0.9", ratio("C", "G") >= 0.9),
        ("C p99 / G p99", tail, "<= 1.2", tail <= 1.2),
        ("br / gzip bytes", smaller, "<= 0.8", smaller <= 0.8),
        ("C / B (cached)", ratio("C", "B"), ">= 3", ratio("C", "B") >= 3),
        ("E / B0 (uncached)", ratio("E", "B0"), ">= 10", ratio("E", "B0") >= 10),
        ("C-br / C", ratio("C-br", "C"), "(br body)", True),
        ("Cu / A", ratio("Cu", "A"), "(uvicorn)", True),
        ("G / A", ratio("G", "A"), "(servers)", True),
        ("D / A", ratio("D", "A"), "(L2 only)", True),
        ("C / A2 (same headers)", ratio("C", "A2"), "(context)", True),
    ]
    if "N" in arms:
        checks.append(("C / N", ratio("C", "N"), "(no Python)", True))
    print("\nratios")
    for name, value, target, met in checks:
        print(f"  {name:<22} {value:6.2f}   target {target:<10} {'met' if met else 'NOT MET'}")
    p50, p99 = statistics.median(lags), percentile(lags, 0.99)
    print(
        f"\ninvalidation, 3 gateways, {len(lags)} observations: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(lags):.1f} ms   target p99 <= 100 ms   {'met' if p99 <= 100 else 'NOT MET'}"
    )
    print(
        f"cold page, 200 concurrent requests: {cold[1]} answered 200, {cold[0]} render(s)   "
        f"target 1   {'met' if cold[0] == 1 else 'NOT MET'}"
    )
    peak = max(value for _, value in rss)
    print(
        "gateway RSS (MiB) under distinct pages, L1 64 MiB: "
        + ", ".join(f"{at:.0f}s={value:.0f}" for at, value in rss)
    )
    print(f"  peak {peak:.0f} MiB   target <= 200   {'met' if peak <= 200 else 'NOT MET'}")


async def prepare() -> tuple[str, str]:
    url = await create_postgres_database()
    await seed(url)
    return url, f"dyndash-bench-{uuid.uuid4().hex[:8]}"


def main(arguments: argparse.Namespace) -> None:
    url, prefix = asyncio.run(prepare())
    env = service_env(url, prefix)
    try:
        with tempfile.TemporaryDirectory() as directory:
            arms, sizes = throughput(
                env, Path(directory) / "page.html", arguments.seconds, arguments.rounds
            )
        lags = asyncio.run(invalidation(env, arguments.trials))
        cold = asyncio.run(cold_page(env))
        rss = soak(env, arguments.soak_seconds)
        report(arms, sizes, lags, cold, rss)
    finally:
        asyncio.run(drop_postgres_database(url))
        asyncio.run(delete_redis_prefix(prefix))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of the arms the targets compare"
    )
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--soak-seconds", type=int, default=60)
    main(parser.parse_args())
