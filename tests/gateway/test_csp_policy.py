"""The pages' Content-Security-Policy on the wire: refused origins, and each gateway's own
DYNDASH_CSP whatever the shared cache holds (README, "CSP and embedding")."""

from __future__ import annotations

from tests.gateway.conftest import Site
from tests.utils.backends import snapshot


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
        ("/api/v1/routes", {"path": "/api\n", "template_id": template["id"]}, "path"),
        ("/api/v1/routes", {"path": "/report\n", "template_id": template["id"]}, "path"),
        (
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            {"key": "c", "config": {"colors": ["#ffffff\n"]}},
            "config.colors[0]",
        ),
    ]
    for path, body, named in cases:
        response = await api.client.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert named in response.text, (named, response.text)
    assert await snapshot(api.backend.settings) == before
    # The same origin without the newline is a route whose page is served.
    await site.publish_page(
        "/csp", "<p>ok</p>", name="ok", csp={"script-src": ["https://evil.example.com"]}
    )
    page = await site.page("/csp")
    assert page.status_code == 200, page.text
    assert "https://evil.example.com;" in page.headers["content-security-policy"]
