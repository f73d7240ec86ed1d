"""The built-in layout, widget fragments, priority loading and the pages' CSP on the gateway."""

from __future__ import annotations

import re
from typing import Any

from dyndash.showcase import widgets as showcase_widgets
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend


async def _dashboard_route(site: Site, **handler_config: Any) -> tuple[int, dict[str, int]]:
    dashboard = await site.admin.create_dashboard("shop", title="Shop", is_public=True)
    ids = {}
    for widget in showcase_widgets():
        response = await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json=widget
        )
        assert response.status_code == 201, response.text
        ids[widget["key"]] = response.json()["data"]["id"]
    route = await site.admin.client.post(
        "/api/v1/routes",
        json={
            "path": "/shop",
            "handler_config": {"dashboard_id": dashboard["id"], **handler_config},
        },
    )
    assert route.status_code == 201, route.text
    await site.route_known(route.json()["data"]["id"])
    return dashboard["id"], ids


async def test_a_route_without_template_renders_the_built_in_layout(site: Site) -> None:
    _, ids = await _dashboard_route(site)
    page = await site.page("/shop")
    assert page.status_code == 200, page.text
    html = page.text
    assert "<h1>Shop</h1>" in html
    assert "dd-placeholder" not in html
    # Every widget, in position order, each sized by its layout.
    order = [int(i) for i in re.findall(r'id="dd-widget-(\d+)"', html)]
    assert order == list(ids.values())
    assert 'class="dd-card dd-w8 dd-h2 dd-t-line"' in html
    # The stylesheet and loader are the layout's content-hashed assets.
    for kind in ("css", "js"):
        url = re.search(rf'"(/assets/[0-9a-f]+\.{kind})"', html)
        assert url is not None
        asset = await site.page(url[1])
        assert asset.status_code == 200
        assert "immutable" in asset.headers["cache-control"]
    assert "no-cache" in page.headers["cache-control"]
    again = await site.page("/shop")
    assert again.headers["x-cache"] == "HIT-L1"


async def test_widgets_above_the_inline_priority_are_placeholders_filled_from_fragments(
    site: Site,
) -> None:
    _, ids = await _dashboard_route(site, inline_priority=0)
    html = (await site.page("/shop")).text
    lazy = re.findall(r'id="dd-widget-(\d+)"[^>]*data-fragment="/fragments/widgets/(\d+)"', html)
    assert {int(a) for a, _ in lazy} == {
        ids[k] for k in ("latency", "cpu", "tickets", "products", "notes", "build")
    }
    assert "<svg" in html
    assert 'aria-busy="true"' in html
    fragment = await site.page(f"/fragments/widgets/{ids['cpu']}")
    assert fragment.status_code == 200
    assert f'id="dd-widget-{ids["cpu"]}"' in fragment.text
    assert 'role="img"' in fragment.text
    # A data push reaches the fragment.
    pushed = await site.admin.client.post(
        f"/api/v1/data/widget/{ids['cpu']}", json={"data": {"value": 99.5, "min": 0, "max": 100}}
    )
    assert pushed.status_code == 200
    fresh = await site.eventually(f"/fragments/widgets/{ids['cpu']}", lambda r: "99.5" in r.text)
    assert "99.5" in fresh.text


async def test_a_custom_template_can_render_built_in_widgets(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("d", is_public=True)
    await site.admin.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={
            "key": "g",
            "title": "Gauge",
            "type": "gauge",
            "data": {"value": 2, "min": 0, "max": 4},
        },
    )
    await site.publish_page(
        "/custom",
        '<link rel="stylesheet" href="{{ asset_url(\'widgets\') }}">'
        "{% for w in widgets %}{{ render_widget(w) }}{% endfor %}",
        dashboard_id=dashboard["id"],
    )
    html = (await site.page("/custom")).text
    assert 'aria-label="Gauge' in html
    assert "<svg" in html
    href = re.search(r'href="(/assets/[0-9a-f]+\.css)"', html)
    assert href is not None
    assert (await site.page(href[1])).status_code == 200


async def test_default_headers_refuse_framing(site: Site) -> None:
    await _dashboard_route(site)
    page = await site.page("/shop")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["content-security-policy"].endswith("frame-ancestors 'none'")


async def test_route_csp_allows_listed_origins_and_framing(site: Site) -> None:
    await _dashboard_route(
        site,
        csp={
            "script-src": ["https://cdn.example.com"],
            "frame-ancestors": ["https://intranet.example.com"],
        },
    )
    page = await site.page("/shop")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "https://cdn.example.com;" in policy
    assert policy.endswith("frame-ancestors https://intranet.example.com")
    # X-Frame-Options cannot name an origin: it is left out rather than contradict the policy.
    assert "x-frame-options" not in page.headers


async def test_site_wide_csp_setting(backend: Backend) -> None:
    extra = {"csp": {"img-src": ["https://img.example.com"], "frame-ancestors": ["'self'"]}}
    async for site in start_site(backend, extra):
        await _dashboard_route(site)
        page = await site.page("/shop")
        policy = page.headers["content-security-policy"]
        assert "img-src 'self' data: https://img.example.com;" in policy
        assert policy.endswith("frame-ancestors 'self'")
        fragment = await site.page("/fragments/widgets/1")
        assert "https://img.example.com" in fragment.headers["content-security-policy"]
