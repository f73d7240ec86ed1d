"""What a cache miss costs: one render of the bench pages on a gateway, request by request.

Every request names a new path parameter, so each is a miss in L1 and L2 and renders once.
Arms, one gateway process each, in one run:
  inline    renders on threads inside the serving process (the design before render
            isolation; bench/baselines/inline_gateway.py)
  isolated  the shipped gateway: renders in its pool of warm child processes

    uv run python -m bench.cold_miss [--requests 300]

Needs PostgreSQL and Redis on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid

import httpx

from bench.gateway import percentile, seed
from bench.harness import dyndash, free_port, process, service_env
from tests.utils.backends import (
    create_postgres_database,
    delete_redis_prefix,
    drop_postgres_database,
)

PAGES = ("/big/{n}", "/sales/{n}")
WARMUP = 20


async def misses(base: str, pattern: str, count: int) -> list[float]:
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=10) as web:
        for n in range(WARMUP + count):
            path = pattern.format(n=f"{uuid.uuid4().hex[:8]}")
            started = time.perf_counter()
            response = await web.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (path, response.status_code, response.text[:200])
            assert response.headers["x-cache"] == "MISS", response.headers["x-cache"]
            if n >= WARMUP:
                latencies.append(elapsed)
    return latencies


def arm_command(arm: str, port: int) -> list[str]:
    if arm == "inline":
        return [
            sys.executable,
            "-m",
            "bench.baselines.inline_gateway",
            "--port",
            str(port),
        ]
    return dyndash("gateway", port)


def main(arguments: argparse.Namespace) -> None:
    url = asyncio.run(create_postgres_database())
    asyncio.run(seed(url))
    prefix = f"dyndash-bench-{uuid.uuid4().hex[:8]}"
    env = service_env(url, prefix, DYNDASH_GATEWAY_L1_MAX_BYTES=str(64 * 1024 * 1024))
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for arm in arguments.arms.split(","):
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with process(arm_command(arm, port), env, f"{base}/healthz"):
                time.sleep(0.5)
                for page in PAGES:
                    results[arm, page] = asyncio.run(misses(base, page, arguments.requests))
    finally:
        asyncio.run(drop_postgres_database(url))
        asyncio.run(delete_redis_prefix(prefix))
    print(f"cold miss, {arguments.requests} sequential requests per page, each a new variant")
    for (arm, page), values in results.items():
        print(
            f"  {arm:<9} {page:<12} p50 {statistics.median(values):6.2f} ms   "
            f"p99 {percentile(values, 0.99):6.2f} ms"
        )
    arms = arguments.arms.split(",")
    if "inline" in arms and "isolated" in arms:
        for page in PAGES:
            extra = statistics.median(results["isolated", page]) - statistics.median(
                results["inline", page]
            )
            verdict = "met" if extra <= 3 else "NOT MET"
            print(
                f"  isolated - inline p50 on {page}: {extra:+.2f} ms   target <= +3 ms   {verdict}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--arms", default="inline,isolated")
    main(parser.parse_args())
