"""How soon a change shows on GET /api/v1/events after the admin API is asked for it.

For each backend (embedded SQLite + in-process bus; PostgreSQL + Redis when reachable) this
starts the admin API, opens the SSE stream, sends N template PUTs one after another and times
each from the moment the PUT is sent until its event arrives on the stream. The commit happens
between those two instants, so the figure is an upper bound of commit → visible.

    uv run python -m bench.event_latency [--changes 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from dyndash_admin_api.app import create_app
from tests.utils.backends import (
    ADMIN_SECRET,
    Backend,
    create_postgres_database,
    drop_postgres_database,
    postgres_backend,
    sqlite_backend,
)
from tests.utils.server import serve
from tests.utils.services import reachable

TARGET_MS = 100.0


async def measure(backend: Backend, changes: int) -> list[float]:
    arrived: dict[int, float] = {}
    opened = asyncio.Event()
    async with (
        serve(create_app(backend.settings)) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": ADMIN_SECRET}, timeout=30
        ) as client,
    ):
        template = (await client.post("/api/v1/templates", json={"name": "bench"})).json()["data"]

        async def listen() -> None:
            async with client.stream("GET", "/api/v1/events", timeout=None) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("retry:"):
                        opened.set()
                    elif line.startswith("data: "):
                        event = orjson.loads(line[6:])
                        arrived[event["version"]] = time.perf_counter()

        listener = asyncio.create_task(listen())
        await opened.wait()
        latencies = []
        for version in range(2, changes + 2):
            sent = time.perf_counter()
            response = await client.put(
                f"/api/v1/templates/{template['id']}", json={"html_content": f"<p>{version}</p>"}
            )
            assert response.status_code == 200, response.text
            while version not in arrived:
                await asyncio.sleep(0.0005)
            latencies.append((arrived[version] - sent) * 1000)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    return latencies


def report(name: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{name:<22} n={len(ordered):<5} p50={p50:7.2f} ms  p99={p99:7.2f} ms  "
        f"max={ordered[-1]:7.2f} ms  p99/target={p99 / TARGET_MS:5.2f}"
    )


async def main(changes: int) -> None:
    print(f"PUT sent -> event on GET /api/v1/events (target: {TARGET_MS:.0f} ms)")
    with tempfile.TemporaryDirectory() as directory:
        report("sqlite + in-process", await measure(await sqlite_backend(Path(directory)), changes))
    if reachable("127.0.0.1", 5432) and reachable("127.0.0.1", 6379):
        url = await create_postgres_database()
        try:
            report("postgresql + redis", await measure(postgres_backend(url), changes))
        finally:
            await drop_postgres_database(url)
    else:
        print("postgresql + redis     not reachable on 127.0.0.1; arm skipped")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=200)
    asyncio.run(main(parser.parse_args().changes))
