"""Built-in widgets: what a render costs, what a dashboard page of them weighs, and whether
such a page is served from cache as fast as any other.

    uv run python -m bench.widgets [--renders 200] [--misses 100] [--seconds 5]

1. `render_widget` per type, p50/p99, at 50 and 500 points per series (3 series), in this
   process: what each render process does per widget.
2. The demo's dashboard less one stat (12 widgets, every type) in the built-in layout
   (`/dash/{n}`, every widget inline), on the
   shipped gateway: each request a new `n`, so a miss that renders cold; target p50 ≤ 50 ms.
   The page's bytes as identity, gzip and br.
3. The same page from cache against a plain template page of the same size (`/small`), with
   wrk, identity and br: the ratio of their rates (target ≈ 1).
4. When pygal is importable (it is not a dependency): the same 500-point line chart by pygal,
   the library that was measured against the lean SVG (README, "Widgets").

Needs PostgreSQL and Redis on 127.0.0.1 (like the other benchmarks), and `wrk` for part 3.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx

from bench.gateway import percentile
from bench.harness import dyndash, free_port, process, service_env, wrk
from dyndash.showcase import widgets as showcase_widgets
from dyndash_admin_api.operations.dashboards import create_dashboard, create_widget
from dyndash_admin_api.operations.routes import create_route
from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import change
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from dyndash_common.templating import LocalCompiler
from dyndash_common.widgets import render_widget
from tests.utils.backends import (
    create_postgres_database,
    delete_redis_prefix,
    drop_postgres_database,
)

SERIES = 3


def xy(points: int) -> dict[str, Any]:
    return {
        "x": [f"t{i}" for i in range(points)],
        "series": [
            {"name": f"s{s}", "values": [float((i * (s + 3)) % 97) for i in range(points)]}
            for s in range(SERIES)
        ],
    }


def samples(points: int) -> dict[str, dict[str, Any]]:
    slices = {"slices": [{"label": f"l{i}", "value": i + 1} for i in range(min(points, 50))]}
    rows = min(points, 1000)
    return {
        "stat": {"value": 1234.5, "delta": 3, "series": [float(i % 17) for i in range(points)]},
        "line": xy(points),
        "area": xy(points),
        "bar": xy(points),
        "pie": slices,
        "donut": slices,
        "table": {
            "columns": [
                {"key": "a", "label": "A"},
                {"key": "b", "label": "B", "format": "currency"},
                {"key": "c", "label": "C", "format": "percent"},
            ],
            "rows": [{"a": f"row {i}", "b": i * 3.5, "c": i / 1000} for i in range(rows)],
        },
        "gauge": {"value": 42, "min": 0, "max": 100},
        "text": {
            "markdown": "## Notes\n\n"
            + "- item **bold** [link](https://x.example)\n" * (points // 10)
        },
        "generic": {"values": list(range(points))},
    }


def time_renders(render: Callable[[], Any], count: int) -> tuple[float, float, int]:
    size = len(str(render()))
    times = []
    for _ in range(count):
        started = time.perf_counter()
        render()
        times.append((time.perf_counter() - started) * 1000)
    return percentile(times, 0.5), percentile(times, 0.99), size


def per_type(count: int) -> None:
    print("render_widget per type (ms, in one process; 3 series where the type has series)")
    print(f"  {'type':<8} {'points':>6} {'p50':>8} {'p99':>8} {'bytes':>9}")
    for points in (50, 500):
        for kind, data in samples(points).items():
            widget = {"id": 1, "type": kind, "title": kind, "config": {}, "data": data}
            p50, p99, size = time_renders(partial(render_widget, widget), count)
            print(f"  {kind:<8} {points:>6} {p50:>8.3f} {p99:>8.3f} {size:>9}", flush=True)


def pygal_comparison(count: int) -> None:
    try:
        import pygal  # type: ignore[import-not-found]
    except ImportError:
        print("pygal: not installed, comparison skipped (uv pip install pygal to run it)")
        return
    data = xy(500)

    def with_pygal() -> str:
        chart = pygal.Line(disable_xml_declaration=True)
        chart.x_labels = data["x"]
        for series in data["series"]:
            chart.add(series["name"], series["values"])
        return str(chart.render(is_unicode=True))

    widget = {"id": 1, "type": "line", "title": "line", "config": {}, "data": data}
    for name, render in (("pygal", with_pygal), ("lean SVG", lambda: render_widget(widget))):
        p50, p99, size = time_renders(render, max(10, count // 10))
        print(f"  500-point line, {name:<9} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {size} bytes")


async def seed(database_url: str) -> None:
    runtime = build_runtime(Settings(database_url=database_url))
    async with change(runtime) as changes:
        dashboard = await create_dashboard(
            changes,
            {"name": "bench", "title": "Bench", "description": "12 widgets", "is_public": True},
        )
        # The demo's widgets but one: every type, a realistic page.
        chosen = [w for w in showcase_widgets() if w["key"] != "uptime"]
        assert len(chosen) == 12
        for widget in chosen:
            await create_widget(changes, dashboard.id, {**widget, "priority": 0})
        await create_route(
            changes,
            {
                "path": "/dash/{n}",
                "template_id": None,
                "method": "GET",
                "is_active": True,
                "handler_config": {"dashboard_id": dashboard.id, "cache_ttl": 300},
            },
        )
        await create_route(
            changes,
            {"path": "/dash", "template_id": None, "method": "GET", "is_active": True,
             "handler_config": {"dashboard_id": dashboard.id, "cache_ttl": 300}},
        )  # fmt: skip
        # A plain template page of about the dashboard page's size (32 KB): the same bytes to
        # send, so the comparison isolates what the widgets cost once cached (nothing).
        small = await create_template(
            changes,
            {
                "name": "small",
                "html_content": "<!doctype html><title>s</title>" + "<p>lorem</p>" * 2700,
            },
            None,
            None,
            compiler=LocalCompiler(),
        )
        await create_route(
            changes,
            {"path": "/small", "template_id": small.id, "method": "GET", "is_active": True,
             "handler_config": {"cache_ttl": 300}},
        )  # fmt: skip
    await runtime.close()


async def cold_pages(base: str, count: int) -> tuple[list[float], dict[str, int]]:
    latencies = []
    sizes: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base, timeout=10) as web:
        for n in range(count + 10):
            started = time.perf_counter()
            response = await web.get(f"/dash/{uuid.uuid4().hex[:8]}")
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.text[:300]
            assert response.headers["x-cache"] == "MISS"
            if n >= 10:
                latencies.append(elapsed)
        for encoding in ("identity", "gzip", "br"):
            response = await web.get("/dash", headers={"Accept-Encoding": encoding})
            # The bytes sent: httpx hands back the decoded body.
            sizes[encoding] = int(response.headers["content-length"])
    return latencies, sizes


def main(arguments: argparse.Namespace) -> None:
    per_type(arguments.renders)
    pygal_comparison(arguments.renders)
    url = asyncio.run(create_postgres_database())
    asyncio.run(seed(url))
    prefix = f"dyndash-bench-{uuid.uuid4().hex[:8]}"
    env = service_env(url, prefix)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with process(dyndash("gateway", port), env, f"{base}/healthz"):
            time.sleep(0.5)
            latencies, sizes = asyncio.run(cold_pages(base, arguments.misses))
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            verdict = "meets" if p50 <= 50 else "MISSES"
            print(
                f"12-widget page cold (a miss, rendered): p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
                f"mean {statistics.mean(latencies):.1f} ms  ({verdict} the 50 ms target)"
            )
            print(
                f"12-widget page bytes: identity {sizes['identity']}  gzip {sizes['gzip']}  "
                f"br {sizes['br']}"
            )
            if shutil.which("wrk") is None:
                print("wrk: not installed, cached-rate comparison skipped")
                return
            for headers in ((), ("Accept-Encoding: br",)):
                rates = {}
                for path in ("/dash", "/small"):
                    wrk(base + path, seconds=2, connections=32, headers=headers)
                    load = wrk(
                        base + path, seconds=arguments.seconds, connections=32, headers=headers
                    )
                    rates[path] = load.requests_per_second
                    print(
                        f"from cache {path:<7} {headers[0] if headers else 'identity':<20} "
                        f"{load.requests_per_second:9.0f} req/s  p50 {load.p50_ms:.2f} ms  "
                        f"p99 {load.p99_ms:.2f} ms  non-2xx {load.errors}"
                    )
                print(
                    f"  cached rate, dashboard / plain page: {rates['/dash'] / rates['/small']:.2f}"
                )
    finally:
        asyncio.run(drop_postgres_database(url))
        asyncio.run(delete_redis_prefix(prefix))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--misses", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=5)
    main(parser.parse_args())
