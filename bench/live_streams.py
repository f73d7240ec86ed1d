"""What open live streams cost a gateway, and whether pages and health still answer beside them.

One gateway on PostgreSQL + Redis (the 11.5 KB page of bench.gateway). Two arms in one run:
idle (no streams), then with N idle `/live/dashboards/{id}` streams open from 50 client
addresses (127.0.0.1-50, all loopback). In each, wrk measures the page and `/healthz` at the
same load. Prints p50/p99, the ratio streams/idle against the target (p99 within 2 x idle),
the gateway's RSS growth per stream and its CPU while the streams sit idle.

    uv run python -m bench.live_streams [--streams 5000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from bench.gateway import PAGE, prepare
from bench.harness import Load, dyndash, free_port, process, rss_mib, service_env, wrk
from tests.gateway.test_live_caps import Stream, open_stream
from tests.utils.backends import (
    delete_redis_prefix,
    drop_postgres_database,
)

ADDRESSES = 50
TARGET_RATIO = 2.0
DASHBOARD_ID = 1  # the demo's public dashboard (dyndash/demo.py)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loads(base: str, seconds: int) -> dict[str, Load]:
    return {
        "page": wrk(f"{base}{PAGE}", seconds=seconds, connections=8),
        "healthz": wrk(f"{base}/healthz", seconds=seconds, connections=8),
    }


async def open_streams(base: str, count: int) -> list[Stream]:
    path = f"/live/dashboards/{DASHBOARD_ID}"
    sources = [f"127.0.0.{1 + n % ADDRESSES}" for n in range(count)]
    streams: list[Stream] = []
    for start in range(0, count, 100):
        batch = sources[start : start + 100]
        streams += await asyncio.gather(*(open_stream(base, path, s, 30) for s in batch))
    return streams


async def run(arguments: argparse.Namespace, env: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    gateway_env = {
        **env,
        "DYNDASH_LIVE_MAX_STREAMS": str(arguments.streams),
        "DYNDASH_LIVE_MAX_PER_ADDRESS": str(-(-arguments.streams // ADDRESSES)),
    }
    with process(dyndash("gateway", port), gateway_env, f"{base}/healthz") as gateway:
        wrk(f"{base}{PAGE}", seconds=2, connections=8)  # warm: the page in L1
        idle = await asyncio.to_thread(loads, base, arguments.seconds)
        rss_before = rss_mib(gateway.pid)
        started = time.perf_counter()
        streams = await open_streams(base, arguments.streams)
        opened_in = time.perf_counter() - started
        statuses = [stream.status for stream in streams]
        await asyncio.sleep(3)  # every stream past its first key re-check
        rss_after = rss_mib(gateway.pid)
        cpu_start = cpu_seconds(gateway.pid)
        await asyncio.sleep(arguments.seconds)
        idle_cpu = (cpu_seconds(gateway.pid) - cpu_start) / arguments.seconds
        held = await asyncio.to_thread(loads, base, arguments.seconds)
        over = await open_stream(base, f"/live/dashboards/{DASHBOARD_ID}", "127.0.0.200")
        for stream in [*streams, over]:
            stream.close()

    print(
        f"streams: {statuses.count(200)} of {arguments.streams} open (200) in {opened_in:.1f} s "
        f"from {ADDRESSES} addresses; one more: {over.status} (the process cap)"
    )
    print(
        f"gateway RSS {rss_before:.0f} -> {rss_after:.0f} MiB: "
        f"{(rss_after - rss_before) * 1024 / max(1, statuses.count(200)):.1f} KiB per stream; "
        f"CPU with the streams idle: {idle_cpu * 100:.1f} % of a core"
    )
    print(
        f"{'':10}{'idle p50':>10}{'idle p99':>10}{'streams p50':>13}{'streams p99':>13}"
        f"{'p99 ratio':>11}  target <= {TARGET_RATIO}"
    )
    for name in idle:
        a, b = idle[name], held[name]
        ratio = b.p99_ms / a.p99_ms
        verdict = "ok" if ratio <= TARGET_RATIO and not b.errors else "MISSED"
        print(
            f"{name:10}{a.p50_ms:>10.2f}{a.p99_ms:>10.2f}{b.p50_ms:>13.2f}{b.p99_ms:>13.2f}"
            f"{ratio:>11.2f}  {verdict} ({a.requests_per_second:.0f} -> "
            f"{b.requests_per_second:.0f} req/s, {b.errors} errors)"
        )


def main(arguments: argparse.Namespace) -> None:
    url, prefix = asyncio.run(prepare())
    try:
        asyncio.run(run(arguments, service_env(url, prefix)))
    finally:
        asyncio.run(drop_postgres_database(url))
        asyncio.run(delete_redis_prefix(prefix))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=5)
    main(parser.parse_args())
