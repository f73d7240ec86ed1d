"""Responses sent again: a repeated page request gets exactly what the full path sent, and
only while the site state and the cache entry are what they were."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Message

from dyndash_common.cache import CachedEntry, MemoryCache
from dyndash_common.logs import request_id
from dyndash_common.ratelimit import InProcessRateLimiter, RateDecision
from dyndash_gateway.front import PAGE_DURATIONS, PAGE_OUTCOMES
from dyndash_gateway.metrics import CACHE_RESULTS
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


async def test_a_page_sent_again_is_what_the_full_path_sent(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await site.publish_page("/again", "<p>{{ 'again' }}</p>")
    full, again = await _until_sent_again(site, "/again")
    assert len(site.gateway.ready_responses) == 1
    assert again.content == full.content == b"<p>again</p>"
    assert _headers_but_request_id(again) == _headers_but_request_id(full)
    assert again.headers["x-request-id"] != full.headers["x-request-id"]

    def no_full_path(path: str) -> None:
        raise AssertionError(f"{path} took the full path")

    # Sent again without matching the route: the full path would fail now.
    monkeypatch.setattr(site.gateway.state.routes, "match", no_full_path)
    third = await site.page("/again", headers=IDENTITY)
    assert (third.status_code, third.content) == (200, b"<p>again</p>")
    head = await site.web.head("/again", headers=IDENTITY)
    assert (head.status_code, head.content) == (200, b"")
    assert _headers_but_request_id(head) == _headers_but_request_id(full)


async def test_an_entry_l1_no_longer_holds_is_not_sent_again(site: Site) -> None:
    await site.publish_page("/evicted", "<p>evicted</p>", name="evicted")
    await _until_sent_again(site, "/evicted")
    site.gateway.memory.clear()  # as an eviction would, within one state generation
    after = await site.page("/evicted", headers=IDENTITY)
    assert after.headers["x-cache"] != "HIT-L1"
    assert after.text == "<p>evicted</p>"


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
    kept = len(site.gateway.ready_responses)
    key = {"X-API-Key": site.admin.client.headers["X-API-Key"]}
    for _ in range(3):
        answer = await site.page("/keyed", headers={**IDENTITY, **key})
        assert answer.status_code == 200
    assert len(site.gateway.ready_responses) == kept
    assert (await site.page("/keyed", headers=IDENTITY)).status_code == 401


def test_kept_responses_are_bounded_and_checked_on_each_use() -> None:
    memory = MemoryCache(1024 * 1024)
    entry = CachedEntry.build(b"<p>x</p>", "text/html", ttl=10)
    memory.put("a", "v1", entry)
    ready = ReadyResponses(memory)
    response = ReadyResponse(generation=7, page_key="a", entry=entry, headers=(), body=b"x")
    now = entry.created + 1
    ready.put(("/a", b"", b""), response)
    assert ready.get(("/a", b"", b""), 7, now) is response
    assert ready.get(("/a", b"", b""), 8, now) is None  # the state moved on: dropped
    assert len(ready) == 0
    ready.put(("/a", b"", b""), response)
    assert ready.get(("/a", b"", b""), 7, entry.created + 10) is None  # no longer fresh
    ready.put(("/a", b"", b""), response)
    memory.put("a", "v1", CachedEntry.build(b"<p>y</p>", "text/html", ttl=10))
    assert ready.get(("/a", b"", b""), 7, now) is None  # L1 holds another entry now
    for n in range(MAX_READY + 1):
        ready.put((f"/{n}", b"", b""), response)
    assert len(ready) == 1


class CountingLimiter(InProcessRateLimiter):
    def __init__(self, limit: int) -> None:
        # One window for the whole test: a fixed clock.
        super().__init__(limit, 60, clock=lambda: 30.0)
        self.asked = 0

    async def hit(self, identity: str) -> RateDecision:
        self.asked += 1
        return await super().hit(identity)


async def test_the_rate_limit_counts_each_request_sent_again_once(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shortcut asks the limiter as the full path does, once per request (a refusal is
    handed to the full path, which does not ask again): past the limit a request that could
    be sent again is refused, with its own request id."""
    limit = 40
    limiter = site.gateway.limiter = CountingLimiter(limit)
    await site.publish_page("/limited", "<p>limited</p>", name="limited")
    used = 0
    while not len(site.gateway.ready_responses):
        assert used < 30, "the page was never kept"
        await site.page("/limited", headers=IDENTITY)
        used += 1
        await asyncio.sleep(0.01)

    def no_full_path(path: str) -> None:
        raise AssertionError(f"{path} took the full path")

    monkeypatch.setattr(site.gateway.state.routes, "match", no_full_path)
    answers = [
        await site.page("/limited", headers={**IDENTITY, "X-Request-ID": f"req-{n}"})
        for n in range(limit)
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200] * (limit - used) + [429] * used
    assert limiter.asked == used + limit
    assert [answer.headers["x-request-id"] for answer in answers] == [
        f"req-{n}" for n in range(limit)
    ]
    assert answers[-1].headers["retry-after"] == "30"
    assert "Too many requests" in answers[-1].text


async def test_a_page_sent_again_is_counted_and_sent_inside_its_request_id(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page metrics and the L1 hit count it as the full path would, and `send` runs inside
    the request's log context (uvicorn writes its access line from within `send`)."""
    await site.publish_page("/counted", "<p>counted</p>", name="counted")
    await _until_sent_again(site, "/counted")

    def no_full_path(path: str) -> None:
        raise AssertionError(f"{path} took the full path")

    monkeypatch.setattr(site.gateway.state.routes, "match", no_full_path)
    pages, hits = PAGE_OUTCOMES["page", 2].value, CACHE_RESULTS.labels("HIT-L1").value
    timed = sum(PAGE_DURATIONS["page"].counts)
    sent: list[tuple[str, str | None]] = []

    async def send(message: Message) -> None:
        sent.append((message["type"], request_id.get()))

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    for n in range(3):
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/counted",
            "raw_path": b"/counted",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"accept-encoding", b"identity"),
                (b"x-request-id", f"trace-{n}".encode()),
            ],
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 80),
        }
        await site.front(scope, receive, send)
        assert sent[-2:] == [
            ("http.response.start", f"trace-{n}"),
            ("http.response.body", f"trace-{n}"),
        ]
    assert PAGE_OUTCOMES["page", 2].value == pages + 3
    assert CACHE_RESULTS.labels("HIT-L1").value == hits + 3
    assert sum(PAGE_DURATIONS["page"].counts) == timed + 3
