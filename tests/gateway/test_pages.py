"""Serving DB-defined routes: binding, caching headers, invalidation on change."""

from __future__ import annotations

import asyncio
import gzip
from ipaddress import ip_network
from typing import Any

import brotli
import httpx
import orjson
import pytest

from dyndash_common.cache import MemoryCache
from dyndash_common.site import record_warm_report
from dyndash_common.site.builder import PageOrder
from dyndash_common.site.failures import Signature
from dyndash_common.site.warming import MemorySink, Target, WarmFailure, WarmReport, warm
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend


async def test_route_binds_params_and_declared_query_only(site: Site) -> None:
    await site.publish_page(
        "/sales/{region}",
        "{{ title }}|{{ params.region }}|{{ query.range }}|{{ query.other }}",
        context={"title": "Sales"},
        query_params=["range"],
    )
    response = await site.page("/sales/emea?range=7d&other=x")
    assert response.status_code == 200
    assert response.text == "Sales|emea|7d|"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


async def test_unknown_path_is_a_404_page_and_post_is_405(site: Site) -> None:
    missing = await site.page("/nowhere")
    assert missing.status_code == 404
    assert "<h1>Not found</h1>" in missing.text
    await site.publish_page("/p", "x")
    posted = await site.web.post("/p")
    assert posted.status_code == 405
    assert posted.headers["allow"] == "GET, HEAD"


async def test_cache_headers_etag_and_gzip(site: Site) -> None:
    await site.publish_page("/cached", "<p>{{ 'hello' }}</p>")
    first = await site.page("/cached", headers={"Accept-Encoding": "identity"})
    second = await site.page("/cached", headers={"Accept-Encoding": "identity"})
    # Embedded, the gateway may already have pre-rendered the page from the route's event.
    assert first.headers["x-cache"] in ("MISS", "HIT-L1")
    assert second.headers["x-cache"] == "HIT-L1"
    assert first.headers["etag"] == second.headers["etag"]
    assert first.headers["vary"] == "Accept-Encoding"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in first.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in first.headers["content-security-policy"]
    revalidated = await site.page(
        "/cached", headers={"If-None-Match": first.headers["etag"], "Accept-Encoding": "identity"}
    )
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    async with site.web.stream("GET", "/cached", headers={"Accept-Encoding": "gzip"}) as raw:
        body = b"".join([chunk async for chunk in raw.aiter_raw()])
    assert raw.headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == b"<p>hello</p>"
    assert raw.headers["etag"].endswith('-gz"')
    both = {"Accept-Encoding": "gzip, deflate, br"}
    async with site.web.stream("GET", "/cached", headers=both) as raw:
        body = b"".join([chunk async for chunk in raw.aiter_raw()])
    assert raw.headers["content-encoding"] == "br"
    assert brotli.decompress(body) == b"<p>hello</p>"
    assert raw.headers["etag"].endswith('-br"')
    br_etag = raw.headers["etag"]
    revalidated = await site.page("/cached", headers={**both, "If-None-Match": br_etag})
    assert revalidated.status_code == 304
    assert revalidated.headers["etag"] == br_etag
    refused = await site.page("/cached", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "content-encoding" not in refused.headers
    head = await site.web.head("/cached", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(b"<p>hello</p>"))


async def test_template_change_is_served_at_once(site: Site) -> None:
    template = await site.publish_page("/fresh", "<p>v1</p>")
    assert (await site.page("/fresh")).text == "<p>v1</p>"
    assert (await site.page("/fresh")).headers["x-cache"] == "HIT-L1"
    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"html_content": "<p>v2</p>"}
    )
    changed = await site.eventually("/fresh", lambda r: r.text == "<p>v2</p>")
    assert changed.text == "<p>v2</p>"


async def test_changing_an_included_partial_changes_the_page(site: Site) -> None:
    partial = await site.admin.create_template("partial", "<i>old</i>")
    await site.publish_page("/outer", "[{% include 'partial' %}]")
    assert (await site.page("/outer")).text == "[<i>old</i>]"
    await site.admin.client.put(
        f"/api/v1/templates/{partial['id']}", json={"html_content": "<i>new</i>"}
    )
    changed = await site.eventually("/outer", lambda r: r.text == "[<i>new</i>]")
    assert changed.text == "[<i>new</i>]"


async def test_widget_data_push_reaches_the_page(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("sales", is_public=True)
    widget = (
        await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "n", "data": {"v": 1}}
        )
    ).json()["data"]
    await site.publish_page(
        "/dash",
        "{% for w in widgets %}{{ w.key }}={{ w.data.v }}{% endfor %}",
        dashboard_id=dashboard["id"],
    )
    assert (await site.page("/dash")).text == "n=1"
    await site.admin.client.post(f"/api/v1/data/widget/{widget['id']}", json={"data": {"v": 2}})
    changed = await site.eventually("/dash", lambda r: r.text == "n=2")
    assert changed.text == "n=2"
    fragment = await site.page(f"/fragments/widgets/{widget['id']}")
    assert fragment.status_code == 200
    assert 'data-data-version="2"' in fragment.text


async def test_route_changes_and_deactivation(site: Site) -> None:
    await site.publish_page("/old", "moved")
    routes = (await site.admin.client.get("/api/v1/routes")).json()["data"]["items"]
    await site.admin.client.put(f"/api/v1/routes/{routes[0]['id']}", json={"path": "/new"})
    moved = await site.eventually("/new", lambda r: r.status_code == 200)
    assert moved.text == "moved"
    assert (await site.page("/old")).status_code == 404
    await site.admin.client.put(f"/api/v1/routes/{routes[0]['id']}", json={"is_active": False})
    gone = await site.eventually("/new", lambda r: r.status_code == 404)
    assert gone.status_code == 404


async def test_assets_are_content_hashed_minified_and_immutable(site: Site) -> None:
    template = await site.admin.create_template(
        "styled",
        "<link href=\"{{ asset_url('css') }}\"><script src=\"{{ asset_url('js') }}\"></script>",
        css_content="/* brand */\np {\n  color : red ;\n}\n",
        js_content="// greet\nfunction greet ( name ) {\n  return 'hi ' + name ;\n}\n",
    )
    await site.admin.client.post(
        "/api/v1/routes", json={"path": "/styled", "template_id": template["id"]}
    )
    page = await site.eventually("/styled", lambda r: r.status_code == 200)
    href = page.text.split('"')[1]
    assert href.startswith("/assets/")
    assert href.endswith(".css")
    asset = await site.page(href, headers={"Accept-Encoding": "identity"})
    assert asset.status_code == 200
    assert asset.text == "p{color:red}"
    script = await site.page(page.text.split('"')[3], headers={"Accept-Encoding": "br"})
    assert script.headers["content-encoding"] == "br"
    assert script.text == "function greet(name){return'hi '+name;}"
    assert script.headers["etag"].endswith('-br"')
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"] == "text/css; charset=utf-8"
    assert (await site.page("/assets/0000.css")).status_code == 404


async def test_api_key_route_needs_a_data_read_key(site: Site) -> None:
    await site.publish_page("/private", "secret", auth="api_key")
    assert (await site.page("/private")).status_code == 401
    writer = await site.admin.create_key("templates:write")
    reader = await site.admin.create_key("data:read")
    assert (await site.page("/private", headers={"X-API-Key": writer})).status_code == 403
    allowed = await site.page("/private", headers={"X-API-Key": reader})
    assert allowed.status_code == 200
    assert allowed.headers["cache-control"].startswith("private")


async def test_xss_in_data_is_escaped(site: Site) -> None:
    await site.publish_page("/x/{name}", "<p>{{ params.name }}</p>")
    response = await site.page("/x/%3Cscript%3Ealert(1)")
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_dashboard_data_api(site: Site) -> None:
    public = await site.admin.create_dashboard("pub", is_public=True)
    private = await site.admin.create_dashboard("priv")
    await site.admin.client.post(
        f"/api/v1/dashboards/{public['id']}/widgets", json={"key": "k", "data": {"a": 1}}
    )
    await site.eventually(
        f"/api/v1/data/dashboard/{public['id']}",
        lambda r: r.status_code == 200 and bool(r.json()["data"]["widgets"]),
    )
    response = await site.page(f"/api/v1/data/dashboard/{public['id']}")
    body = response.json()
    assert body["status"] == "success"
    assert body["data"]["dashboard"]["name"] == "pub"
    assert body["data"]["widgets"][0]["data"] == {"a": 1}
    assert response.headers["x-cache"] in ("HIT-L1", "MISS")
    denied = await site.eventually(
        f"/api/v1/data/dashboard/{private['id']}", lambda r: r.status_code != 404
    )
    assert denied.status_code == 401
    assert denied.json()["status"] == "error"
    reader = await site.admin.create_key("data:read")
    allowed = await site.page(
        f"/api/v1/data/dashboard/{private['id']}", headers={"X-API-Key": reader}
    )
    assert allowed.status_code == 200
    # The data route sends cached entries exactly as pages are sent: one response for both.
    for coding, suffix in (("identity", '"'), ("gzip", '-gz"'), ("br", '-br"')):
        encoded = await site.page(
            f"/api/v1/data/dashboard/{public['id']}", headers={"Accept-Encoding": coding}
        )
        assert encoded.json()["data"] == body["data"]
        assert encoded.headers["etag"].endswith(suffix)
        assert encoded.headers.get("content-encoding", "identity") == coding
        assert "Accept-Encoding" in encoded.headers["vary"]
        assert encoded.headers["cache-control"] == "public, no-cache"
        assert encoded.headers.get_list("x-content-type-options") == ["nosniff"]
        unchanged = await site.page(
            f"/api/v1/data/dashboard/{public['id']}",
            headers={"Accept-Encoding": coding, "If-None-Match": encoded.headers["etag"]},
        )
        assert unchanged.status_code == 304
    missing = await site.page("/api/v1/data/dashboard/999")
    assert missing.status_code == 404
    assert missing.json()["data"]["code"] == "not_found"


async def test_health_endpoints(site: Site) -> None:
    assert (await site.page("/healthz")).json() == {"status": "ok"}
    ready = await site.page("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["state"] == "ok"


async def test_single_flight_renders_a_cold_page_once(site: Site) -> None:
    await site.publish_page("/cold/{n}", "{% for i in range(20000) %}{{ i % 7 }}{% endfor %}")
    before = site.gateway.builder.renders
    async with httpx.AsyncClient(
        base_url=str(site.web.base_url), limits=httpx.Limits(max_connections=200)
    ) as client:
        responses = await asyncio.gather(*(client.get("/cold/1") for _ in range(200)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert site.gateway.builder.renders - before == 1


async def test_embedded_gateway_prerenders_after_a_change(site: Site) -> None:
    if site.admin.backend.name != "sqlite":
        pytest.skip("with Redis the renderer service pre-renders (tests/renderer)")
    template = await site.publish_page("/warm", "<p>one</p>")
    assert (await site.page("/warm")).text == "<p>one</p>"
    renders = site.gateway.builder.renders
    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"html_content": "<p>two</p>"}
    )
    for _ in range(500):
        if site.gateway.builder.renders > renders:
            break
        await asyncio.sleep(0.01)
    first = await site.page("/warm")
    assert first.text == "<p>two</p>"
    assert first.headers["x-cache"] == "HIT-L1"


async def test_embedded_warming_records_whether_a_version_renders(site: Site) -> None:
    """Without Redis there is no renderer service to record render status: the embedded
    warming does, so the admin API (and its UI) does not call a served page "not rendered"."""
    if site.admin.backend.name != "sqlite":
        pytest.skip("with Redis the renderer service records it (tests/renderer)")
    partial = await site.admin.create_template("status-part", "<i>part</i>")
    template = await site.publish_page("/status", "<p>{{ params.n }}</p>", name="status")

    async def status_of(template_id: int, version: int) -> dict[str, Any]:
        for _ in range(500):
            data: dict[str, Any] = (
                await site.admin.client.get(f"/api/v1/templates/{template_id}")
            ).json()["data"]
            if data["version"] == version and data["render_status"] not in (None, "pending"):
                return data
            await asyncio.sleep(0.01)
        raise AssertionError(f"version {version} of template {template_id} never marked: {data}")

    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}",
        json={"html_content": "<p>two</p>{% include 'status-part' %}"},
    )
    assert (await status_of(template["id"], 2))["render_status"] == "ok"
    # A partial is never rendered alone: the page that rendered with it marks it.
    assert (await status_of(partial["id"], 1))["render_status"] == "ok"
    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}",
        json={"html_content": "<p>{{ 1 // params.zero }}</p>"},
    )
    failed = await status_of(template["id"], 3)
    assert failed["render_status"] == "failed"
    assert "/status" in failed["render_error"]


async def test_a_warm_run_records_status_only_against_the_versions_it_rendered(
    site: Site,
) -> None:
    """A warm run that ends after a newer version arrived says nothing about the newer one: a
    failure of version 1 does not mark version 2 failed (which a later `ok` for version 2
    could not lift), and a success of version 1 does not mark version 2 `ok`."""
    part = await site.admin.create_template("late-part", "<i>one</i>")
    template = await site.admin.create_template("late", "<p>{{ 1 // 0 }}</p>")
    for changed, html in ((template, "<p>{% include 'late-part' %}</p>"), (part, "<i>two</i>")):
        updated = await site.admin.client.put(
            f"/api/v1/templates/{changed['id']}", json={"html_content": html}
        )
        assert updated.json()["data"]["version"] == 2

    async def status(template_id: int) -> str | None:
        data = (await site.admin.client.get(f"/api/v1/templates/{template_id}")).json()["data"]
        return data["render_status"]  # type: ignore[no-any-return]

    runtime = site.gateway.runtime
    old: Signature = (("late", 1), ("late-part", 1))
    failed = WarmFailure("page /late", "late", "ZeroDivisionError", False, old)
    await record_warm_report(runtime, WarmReport(failures=[failed]))
    await record_warm_report(runtime, WarmReport(rendered={("late", old)}))
    assert (await status(template["id"]), await status(part["id"])) == (None, None)

    new: Signature = (("late", 2), ("late-part", 2))
    await record_warm_report(runtime, WarmReport(rendered={("late", new)}))
    assert (await status(template["id"]), await status(part["id"])) == ("ok", "ok")


async def test_a_warm_run_reports_the_versions_its_renders_were_of(site: Site) -> None:
    """The catalog moves on while a run waits for its locks: what is reported is what the
    render took its sources from, not the state when the target was made."""
    part = await site.admin.create_template("moving-part", "<i>one</i>")
    await site.publish_page("/moving", "<p>{% include 'moving-part' %}</p>", name="moving")
    page = await site.eventually("/moving", lambda r: r.status_code == 200)
    assert page.text == "<p><i>one</i></p>"
    gateway = site.gateway
    matched = gateway.state.routes.match("/moving")
    assert matched is not None
    route = matched[0]
    target = Target(
        "page /moving", "key", "signature", PageOrder(route, "moving", {}, {}), "moving"
    )

    await site.admin.client.put(
        f"/api/v1/templates/{part['id']}", json={"html_content": "<i>two</i>"}
    )
    for _ in range(500):
        if gateway.state.catalog.by_name["moving-part"].version == 2:
            break
        await asyncio.sleep(0.01)
    sink = MemorySink(MemoryCache(1024 * 1024))
    report = await warm([target], gateway.builder, sink)
    assert report.failures == []
    assert report.rendered == {("moving", (("moving", 1), ("moving-part", 2)))}
    entry = sink.memory.get("key", "signature")
    assert entry is not None
    assert entry.body == b"<p><i>two</i></p>"


@pytest.mark.parametrize("trusted", [False, True])
async def test_page_limiter_believes_forwarded_for_only_from_a_trusted_proxy(
    backend: Backend, trusted: bool
) -> None:
    settings: dict[str, object] = {"gateway_rate_limit_requests": 2}
    if trusted:
        settings["trusted_proxies"] = [ip_network("127.0.0.1/32")]
    async for site in start_site(backend, settings):
        await site.publish_page("/p", "<p>p</p>")
        statuses = [
            (await site.page("/p", headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
            for n in range(4)
        ]
        forged = [
            (
                await site.page("/p", headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.9"})
            ).status_code
            for n in range(3)
        ]
    if trusted:
        assert statuses == [200, 200, 200, 200]
        assert forged == [200, 200, 429]
    else:
        assert statuses == [200, 200, 429, 429]
        assert forged == [429, 429, 429]


async def test_numbers_past_64_bits_survive_the_database(site: Site) -> None:
    """PostgreSQL's JSONB returns the float 1e119 as an integer of 120 digits, which the fast
    JSON writer cannot write: the data API and an unchanged update still work."""
    dashboard = await site.admin.create_dashboard("big", is_public=True)
    created = await site.admin.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={"key": "n", "title": "N", "type": "generic", "data": {"v": 1e119}},
    )
    assert created.status_code == 201, created.text
    # The widget reaches the gateway by its event, a few milliseconds after the 201.
    data = await site.eventually(
        f"/api/v1/data/dashboard/{dashboard['id']}",
        lambda r: r.status_code != 200 or bool(r.json()["data"]["widgets"]),
    )
    assert data.status_code == 200, data.text
    assert float(data.json()["data"]["widgets"][0]["data"]["v"]) == 1e119
    template = await site.admin.create_template("big", "x", config={"limit": 1e119})
    again = await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"config": {"limit": 1e119}}
    )
    assert again.status_code == 200, again.text


async def test_rebuilt_dashboard_data_keeps_its_etag(site: Site) -> None:
    """The data envelope carries the data's last change as its timestamp, not the build's
    clock: unchanged data rebuilt later (another replica, a warm) is the same representation,
    so a client's If-None-Match still gets 304."""
    dashboard = await site.admin.create_dashboard("same", is_public=True)
    await site.admin.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "k", "data": {"a": 1}}
    )
    first = await site.gateway.builder.dashboard_data(dashboard["id"], 60)
    await asyncio.sleep(0.01)
    again = await site.gateway.builder.dashboard_data(dashboard["id"], 60)
    assert first is not None
    assert again is not None
    assert again.etag == first.etag
    stamped = orjson.loads(first.body)
    assert stamped["timestamp"] == stamped["data"]["dashboard"]["updated_at"]
