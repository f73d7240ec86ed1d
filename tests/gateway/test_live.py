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


async def test_a_revoked_key_loses_its_live_stream_while_updates_flow(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("private")
    widget = (
        await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "k", "data": 0}
        )
    ).json()["data"]
    reader = await site.admin.create_key("data:read")
    keys = (await site.admin.client.get("/api/v1/keys")).json()["data"]["items"]
    reader_id = next(k["id"] for k in keys if k["name"] == "test")
    path = f"/live/dashboards/{dashboard['id']}"
    await site.eventually(path, lambda r: r.status_code == 401)
    opened = asyncio.Event()
    seen: list[str] = []

    async def listen() -> None:
        headers = {"X-API-Key": reader}
        async with site.web.stream("GET", path, headers=headers, timeout=None) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                opened.set()
                if line.startswith("event:"):
                    seen.append(line)

    async def traffic() -> None:
        for number in range(1, 10_000):
            await site.admin.client.post(
                f"/api/v1/data/widget/{widget['id']}", json={"data": number}
            )
            await asyncio.sleep(0.05)

    listening = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 5)
    writing = asyncio.create_task(traffic())
    try:
        await asyncio.sleep(0.5)
        assert (await site.admin.client.delete(f"/api/v1/keys/{reader_id}")).status_code == 200
        revoked_at = asyncio.get_running_loop().time()
        await asyncio.wait_for(listening, 5)
        ended_after = asyncio.get_running_loop().time() - revoked_at
    finally:
        writing.cancel()
        listening.cancel()
    assert ended_after < 5
    assert "event: widget" in seen, "updates were flowing"
    assert seen[-1] == "event: error"
