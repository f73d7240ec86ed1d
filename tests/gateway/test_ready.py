"""Responses sent again: a repeated page request gets exactly what the full path sent, and
only while the site state and the cache entry are what they were."""

from __future__ import annotations

import asyncio

import httpx

from dyndash_gateway.ready import MAX_READY, ReadyResponse, ReadyResponses
from tests.gateway.conftest import Site

IDENTITY = {"Accept-Encoding": "identity"}


def _headers_but_request_id(response: httpx.Response) -> list[tuple[str, str]]:
    return [(k, v) for k, v in response.headers.multi_items() if k != "x-request-id"]


async def _until_sent_again(site: Site, path: str) -> tuple[httpx.Response, httpx.Response]:
    """The full path's HIT-L1 (which keeps its response), then the response sent again."""
    for _ in range(200):
        response = await site.page(path, headers=IDENTITY)
        if response.headers["x-cache"] == "HIT-L1":
            return response, await site.page(path, headers=IDENTITY)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{path} never came from L1")


async def test_a_page_sent_again_is_what_the_full_path_sent(site: Site) -> None:
    await site.publish_page("/again", "<p>{{ 'again' }}</p>")
    full, again = await _until_sent_again(site, "/again")
    assert len(site.front.ready) == 1
    assert again.content == full.content == b"<p>again</p>"
    assert _headers_but_request_id(again) == _headers_but_request_id(full)
    assert again.headers["x-request-id"] != full.headers["x-request-id"]
    head = await site.web.head("/again", headers=IDENTITY)
    assert (head.status_code, head.content) == (200, b"")
    assert _headers_but_request_id(head) == _headers_but_request_id(full)


async def test_a_change_of_the_site_ends_what_was_kept(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("kept", is_public=True)
    widget = (
        await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "n", "data": {"v": 1}}
        )
    ).json()["data"]
    template = await site.publish_page(
        "/kept", "{% for w in widgets %}{{ w.data.v }}{% endfor %}", dashboard_id=dashboard["id"]
    )
    await _until_sent_again(site, "/kept")

    await site.admin.client.post(f"/api/v1/data/widget/{widget['id']}", json={"data": {"v": 2}})
    assert (await site.eventually("/kept", lambda r: r.text == "2")).text == "2"
    await _until_sent_again(site, "/kept")

    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}",
        json={"html_content": "v{% for w in widgets %}{{ w.data.v }}{% endfor %}"},
    )
    assert (await site.eventually("/kept", lambda r: r.text == "v2")).text == "v2"
    await _until_sent_again(site, "/kept")

    await site.admin.client.put(f"/api/v1/routes/{template['route_id']}", json={"is_active": False})
    gone = await site.eventually("/kept", lambda r: r.status_code == 404)
    assert gone.status_code == 404


async def test_an_entry_past_its_ttl_is_not_sent_again(site: Site) -> None:
    await site.publish_page("/short", "<p>short</p>", cache_ttl=1)
    await _until_sent_again(site, "/short")
    await asyncio.sleep(1.1)
    assert (await site.page("/short", headers=IDENTITY)).headers["x-cache"] == "STALE"


async def test_conditional_and_keyed_requests_take_the_full_path(site: Site) -> None:
    await site.publish_page("/plain", "<p>plain</p>", name="plain")
    full, _ = await _until_sent_again(site, "/plain")
    revalidated = await site.page(
        "/plain", headers={**IDENTITY, "If-None-Match": full.headers["etag"]}
    )
    assert (revalidated.status_code, revalidated.content) == (304, b"")

    await site.publish_page("/keyed", "<p>keyed</p>", name="keyed", auth="api_key")
    kept = len(site.front.ready)
    key = {"X-API-Key": site.admin.client.headers["X-API-Key"]}
    for _ in range(3):
        answer = await site.page("/keyed", headers={**IDENTITY, **key})
        assert answer.status_code == 200
    assert len(site.front.ready) == kept
    assert (await site.page("/keyed", headers=IDENTITY)).status_code == 401


def test_kept_responses_are_bounded_and_checked_on_each_use() -> None:
    ready = ReadyResponses()
    response = ReadyResponse(generation=7, fresh_until=100.0, headers=(), body=b"x")
    ready.put(("/a", b"", b""), response)
    assert ready.get(("/a", b"", b""), 7, 99.0) is response
    assert ready.get(("/a", b"", b""), 8, 99.0) is None  # the state moved on: dropped
    assert len(ready) == 0
    ready.put(("/a", b"", b""), response)
    assert ready.get(("/a", b"", b""), 7, 100.0) is None  # no longer fresh: dropped
    for n in range(MAX_READY + 1):
        ready.put((f"/{n}", b"", b""), response)
    assert len(ready) == 1
