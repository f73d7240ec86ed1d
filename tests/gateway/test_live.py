"""Browsers following a dashboard get each widget update pushed over SSE."""

from __future__ import annotations

import asyncio

import orjson

from tests.gateway.conftest import Site


async def test_sse_client_receives_a_widget_update(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("live", is_public=True)
    widget = (
        await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "k", "data": {"v": 1}}
        )
    ).json()["data"]
    await site.eventually(
        f"/api/v1/data/dashboard/{dashboard['id']}",
        lambda r: r.status_code == 200 and bool(r.json()["data"]["widgets"]),
    )
    received: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    opened = asyncio.Event()

    async def listen() -> None:
        async with site.web.stream("GET", f"/live/dashboards/{dashboard['id']}", timeout=None) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if line.startswith("retry:"):
                    opened.set()
                elif line.startswith("data: "):
                    received.put_nowait(orjson.loads(line[6:]))

    listener = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(opened.wait(), 5)
        await site.admin.client.post(f"/api/v1/data/widget/{widget['id']}", json={"data": {"v": 2}})
        update = await asyncio.wait_for(received.get(), 5)
    finally:
        listener.cancel()
    assert update["widget_id"] == widget["id"]
    assert update["data_version"] == 2
    fragment = await site.page(str(update["fragment"]))
    assert fragment.status_code == 200
    assert "&#34;v&#34;: 2" in fragment.text or '"v": 2' in fragment.text


async def test_live_stream_of_a_private_dashboard_needs_a_key(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("secret")
    response = await site.eventually(
        f"/live/dashboards/{dashboard['id']}", lambda r: r.status_code != 404
    )
    assert response.status_code == 401
    assert (await site.page("/live/dashboards/999")).status_code == 404
