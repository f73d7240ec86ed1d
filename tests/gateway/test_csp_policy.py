"""The pages' Content-Security-Policy on the wire: refused origins, and each gateway's own
DYNDASH_CSP whatever the shared cache holds (README, "CSP and embedding")."""

from __future__ import annotations

import re

import httpx
import pytest

from dyndash_common.cache import CachedEntry
from dyndash_gateway.responses import PagePolicies, entry_response
from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend, snapshot


async def test_values_with_a_trailing_newline_are_refused_on_write(site: Site) -> None:
    api = site.admin
    template = await api.create_template()
    dashboard = await api.create_dashboard()
    before = await snapshot(api.backend.settings)
    cases = [
        (
            "/api/v1/routes",
            {
                "path": "/csp",
                "template_id": template["id"],
                "handler_config": {"csp": {"script-src": ["https://evil.example.com\n"]}},
            },
            "csp.script-src[0]",
        ),
        ("/api/v1/routes", {"path": "/api\n", "template_id": template["id"]}, "'api\\n'"),
        ("/api/v1/routes", {"path": "/report\n", "template_id": template["id"]}, "'report\\n'"),
        (
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            {"key": "c", "config": {"colors": ["#ffffff\n"]}},
            "config.colors[0]",
        ),
    ]
    for path, body, named in cases:
        response = await api.client.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert named in response.json()["message"], (named, response.text)
    assert await snapshot(api.backend.settings) == before
    # The same origin without the newline is a route whose page is served.
    await site.publish_page(
        "/csp", "<p>ok</p>", name="ok", csp={"script-src": ["https://evil.example.com"]}
    )
    page = await site.page("/csp")
    assert page.status_code == 200, page.text
    assert "https://evil.example.com;" in page.headers["content-security-policy"]


NONCE = re.compile(r'<script nonce="([^"]+)">')
POLICY_A = {"script-src": ["https://cdn-a.example.com"], "frame-ancestors": ["https://a.example"]}
POLICY_B = {"script-src": ["https://cdn-b.example.com"]}


def _only_own_policy(page: httpx.Response, own: str, other: str) -> str:
    policy = page.headers["content-security-policy"]
    assert own in policy, policy
    assert other not in policy, policy
    # The nonce the page's own script carries is the one its policy allows.
    nonce = NONCE.search(page.text)
    assert nonce is not None, page.text
    assert f"'nonce-{nonce[1]}'" in policy
    return policy


async def test_gateways_sharing_l2_each_send_their_own_policy(backend: Backend) -> None:
    if backend.name != "postgres":
        pytest.skip("the shared cache (L2) is Redis: tested on the real servers")
    html = '<p>mix</p><script nonce="{{ csp_nonce }}">1</script>'
    async for first in start_site(backend, {"csp": POLICY_A}):
        async for second in start_site(backend, {"csp": POLICY_B}):
            page = await first.publish_page("/mix", html, csp={"img-src": ["https://img.example"]})
            await second.route_known(page["route_id"])
            rendered = await first.page("/mix")
            assert rendered.headers["x-cache"] == "MISS"
            policy = _only_own_policy(rendered, "https://cdn-a.example.com", "cdn-b")
            assert policy.endswith("frame-ancestors https://a.example")
            assert "x-frame-options" not in rendered.headers
            # The second gateway sends the first one's render (same body, same nonce) with the
            # policy of its own DYNDASH_CSP, the route's own addition kept.
            shared = await second.page("/mix")
            assert shared.headers["x-cache"] == "HIT-L2"
            assert shared.text == rendered.text
            policy = _only_own_policy(shared, "https://cdn-b.example.com", "cdn-a")
            assert "img-src 'self' data: https://img.example;" in policy
            assert policy.endswith("frame-ancestors 'none'")
            assert shared.headers["x-frame-options"] == "DENY"
            # From its L1, and then from the response it keeps for repeated requests.
            for _ in range(3):
                again = await second.page("/mix")
                assert again.headers["x-cache"] == "HIT-L1"
                assert again.headers["content-security-policy"] == policy
            assert len(second.gateway.ready_responses) == 1
            first_again = await first.page("/mix")
            _only_own_policy(first_again, "https://cdn-a.example.com", "cdn-b")


def test_a_stored_route_origin_that_no_longer_passes_is_left_out_of_the_policy() -> None:
    # A route written before origins were matched whole may hold one with a newline, which
    # no server can send in a header: the page keeps the rest of its policy instead of a 500.
    entry = CachedEntry.build(
        b"<p>old</p>",
        "text/html; charset=utf-8",
        60,
        nonce="n0nce",
        route_csp=(("img-src", ("https://img.example", "https://x.example\n")),),
    )
    _, headers, _ = entry_response(
        entry,
        cache=b"HIT-L2",
        cache_control=b"public, no-cache",
        accept_encoding=b"",
        if_none_match=b"",
        policies=PagePolicies({"script-src": ["https://cdn.example.com"]}),
    )
    policy = dict(headers)[b"content-security-policy"].decode()
    assert "\n" not in policy
    assert "https://x.example" not in policy
    assert "img-src 'self' data:;" in policy
    assert "script-src 'self' 'nonce-n0nce' https://cdn.example.com;" in policy
