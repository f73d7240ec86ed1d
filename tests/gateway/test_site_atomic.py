"""A site apply reaches a gateway all at once: polled during a 200-object apply, no page mixes
old and new objects (README, "Sites as code")."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend

PARTIALS = 150
ROUTES = 49


def bundle(marker: str) -> dict[str, Any]:
    """150 partials, one page including them all, 49 routes on it: 200 objects. From one
    marker to the next, every partial and every route changes."""
    includes = "".join(f'{{% include "p/{i:03d}" %}}' for i in range(PARTIALS))
    return {
        "templates": [
            *({"name": f"p/{i:03d}", "html_content": marker} for i in range(PARTIALS)),
            {"name": "page", "html_content": includes + "|{{ m }}"},
        ],
        "routes": [
            {"path": f"/r{i}", "template": "page", "handler_config": {"context": {"m": marker}}}
            for i in range(ROUTES)
        ],
    }


def whole(marker: str) -> str:
    return marker * PARTIALS + "|" + marker


@pytest.fixture
async def site(backend: Backend) -> AsyncIterator[Site]:
    # Four pollers on one address would meet the gateway's per-address rate limit.
    async for running in start_site(backend, {"gateway_rate_limit_requests": 0}):
        yield running


async def test_a_polled_gateway_never_serves_a_mix(site: Site) -> None:
    response = await site.admin.client.post(
        "/api/v1/site/apply", json={"bundle": bundle("A")}, timeout=60
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["changes"]) == 200
    first = await site.eventually("/r0", lambda r: r.text == whole("A"), seconds=20)
    assert first.text == whole("A")

    seen: list[str] = []
    done = asyncio.Event()

    async def poll(paths: itertools.cycle[str]) -> None:
        while not done.is_set():
            page = await site.page(next(paths))
            assert page.status_code == 200, page.text
            seen.append(page.text)

    pollers = [
        asyncio.create_task(poll(itertools.cycle([f"/r{(i + k) % ROUTES}" for i in range(ROUTES)])))
        for k in range(4)
    ]
    await asyncio.sleep(0.2)
    applied = await site.admin.client.post(
        "/api/v1/site/apply", json={"bundle": bundle("B")}, timeout=60
    )
    assert applied.status_code == 200, applied.text
    assert applied.json()["data"]["summary"]["update"] == PARTIALS + ROUTES
    for path in [f"/r{i}" for i in range(ROUTES)]:
        await site.eventually(path, lambda r: r.text == whole("B"), seconds=20)
    await asyncio.sleep(0.2)
    done.set()
    await asyncio.gather(*pollers)

    mixed = [text for text in seen if text not in (whole("A"), whole("B"))]
    assert mixed == [], f"{len(mixed)} of {len(seen)} pages mixed old and new: {mixed[0][:80]}"
    assert whole("A") in seen
    assert whole("B") in seen
