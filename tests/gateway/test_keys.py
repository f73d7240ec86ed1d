"""The gateway's key cache: bounded per entry, never holding a presented key in the clear."""

from __future__ import annotations

import httpx

from tests.gateway.conftest import Site


async def test_overlong_keys_are_refused_before_the_cache(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("private")
    widget = (
        await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"}
        )
    ).json()["data"]
    fragment = f"/fragments/widgets/{widget['id']}"
    await site.eventually(fragment, lambda r: r.status_code != 404)
    for number in range(20):
        response = await site.page(fragment, headers={"X-API-Key": f"{number}" + "k" * 5000})
        assert response.status_code == 401
    data = await site.web.get(
        f"/api/v1/data/dashboard/{dashboard['id']}", headers={"X-API-Key": "k" * 129}
    )
    assert data.status_code == 401
    assert site.gateway.keys._checked == {}


async def test_cached_checks_are_keyed_by_a_digest(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("private")
    reader = await site.admin.create_key("data:read")
    path = f"/api/v1/data/dashboard/{dashboard['id']}"
    await site.eventually(path, lambda r: r.status_code != 404)
    async with httpx.AsyncClient(base_url=str(site.web.base_url)) as client:
        assert (await client.get(path, headers={"X-API-Key": reader})).status_code == 200
    (cached,) = site.gateway.keys._checked
    assert isinstance(cached, bytes)
    assert len(cached) == 32
    assert reader.encode() not in cached
