"""Built-in widget types on write: schemas, position and priority, routes without a template
and CSP additions."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.utils.backends import snapshot


async def _widget(api: Api, dashboard_id: int, **fields: Any) -> dict[str, Any]:
    response = await api.client.post(f"/api/v1/dashboards/{dashboard_id}/widgets", json=fields)
    assert response.status_code == 201, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_widget_data_is_checked_against_its_type_on_every_write(api: Api) -> None:
    dashboard = await api.create_dashboard()
    gauge = await _widget(
        api, dashboard["id"], key="cpu", type="gauge", data={"value": 1, "min": 0, "max": 2}
    )
    custom = await _widget(api, dashboard["id"], key="kv", type="kv", data={"a": 1})
    before = await snapshot(api.backend.settings)
    widgets = f"/api/v1/dashboards/{dashboard['id']}/widgets"
    cases = [
        ("POST", widgets, {"key": "s", "type": "stat", "data": {"value": "x"}}, "data.value"),
        (
            "POST",
            widgets,
            {
                "key": "l",
                "type": "line",
                "data": {"x": [1], "series": [{"name": "a", "values": [True]}]},
            },
            "data.series[0].values[0]",
        ),
        ("POST", widgets, {"key": "t", "type": "text", "data": {}}, "data.markdown"),
        ("POST", widgets, {"key": "c", "config": {"layout": {"w": 0}}}, "config.layout.w"),
        ("POST", f"/api/v1/data/widget/{gauge['id']}", {"data": {"value": 1}}, "data.min"),
        # A new type re-checks the stored data: {"a": 1} is no table.
        ("PUT", f"/api/v1/widgets/{custom['id']}", {"type": "table"}, "data.columns"),
        (
            "PUT",
            f"/api/v1/widgets/{gauge['id']}",
            {"config": {"colors": ["red"]}},
            "config.colors[0]",
        ),
        (
            "POST",
            widgets,
            {"key": "big", "type": "line", "data": {"x": list(range(6000)), "series": []}},
            "data.x",
        ),
    ]
    for method, path, body, field in cases:
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        envelope = response.json()
        assert envelope["data"]["details"]["field"] == field, envelope
        assert envelope["message"].startswith(field), envelope
    for raw in (b'{"data": {"a": NaN}}', b'{"data": {"a": Infinity}}', b'{"data": {"a": 1e999}}'):
        response = await api.client.post(
            f"/api/v1/data/widget/{custom['id']}",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
    assert await snapshot(api.backend.settings) == before
    moved = await api.client.post(
        f"/api/v1/data/widget/{gauge['id']}", json={"data": {"value": 5, "min": 0, "max": 10}}
    )
    assert moved.status_code == 200
    assert moved.json()["data"]["data_version"] == 2


async def test_position_defaults_to_creation_order_and_priority_to_zero(api: Api) -> None:
    dashboard = await api.create_dashboard()
    first = await _widget(api, dashboard["id"], key="a")
    second = await _widget(api, dashboard["id"], key="b", priority=2)
    third = await _widget(api, dashboard["id"], key="c", position=0)
    assert (first["position"], second["position"], third["position"]) == (0, 1, 0)
    assert (first["priority"], second["priority"]) == (0, 2)
    updated = await api.client.put(f"/api/v1/widgets/{first['id']}", json={"position": 9})
    assert updated.json()["data"]["position"] == 9
    assert updated.json()["data"]["version"] == 2
    refused = await api.client.put(f"/api/v1/widgets/{first['id']}", json={"priority": -1})
    assert refused.status_code == 422


async def test_a_route_without_a_template_needs_a_dashboard(api: Api) -> None:
    dashboard = await api.create_dashboard(is_public=True)
    template = await api.create_template()
    before = await snapshot(api.backend.settings)
    refused = await api.client.post("/api/v1/routes", json={"path": "/x"})
    assert refused.status_code == 422
    assert "dashboard_id" in refused.json()["message"]
    assert await snapshot(api.backend.settings) == before
    created = await api.client.post(
        "/api/v1/routes", json={"path": "/x", "handler_config": {"dashboard_id": dashboard["id"]}}
    )
    assert created.status_code == 201, created.text
    route = created.json()["data"]
    assert route["template_id"] is None
    bound = await api.client.put(
        f"/api/v1/routes/{route['id']}", json={"template_id": template["id"]}
    )
    assert bound.json()["data"]["template_id"] == template["id"]
    unbound = await api.client.put(f"/api/v1/routes/{route['id']}", json={"template_id": None})
    assert unbound.status_code == 200
    assert unbound.json()["data"]["template_id"] is None
    orphan = await api.client.put(
        f"/api/v1/routes/{route['id']}", json={"handler_config": {"dashboard_id": None}}
    )
    assert orphan.status_code == 422
    assert "dashboard_id" in orphan.json()["message"]


async def test_csp_additions_are_validated_on_routes(api: Api) -> None:
    template = await api.create_template()
    before = await snapshot(api.backend.settings)
    for csp in (
        {"default-src": ["https://a.com"]},
        {"script-src": ["https://a.com/lib.js"]},
        {"script-src": ["*://a.com"]},
        {"script-src": ["https://a.com'"]},
        {"frame-ancestors": ["http://intranet.example.com"]},
        {"img-src": "https://a.com"},
    ):
        response = await api.client.post(
            "/api/v1/routes",
            json={"path": "/c", "template_id": template["id"], "handler_config": {"csp": csp}},
        )
        assert response.status_code == 422, (csp, response.text)
        assert "csp" in response.json()["message"], response.json()
    assert await snapshot(api.backend.settings) == before
    created = await api.client.post(
        "/api/v1/routes",
        json={
            "path": "/c",
            "template_id": template["id"],
            "handler_config": {
                "csp": {"script-src": ["https://cdn.example.com"], "frame-ancestors": ["'self'"]},
                "inline_priority": 1,
            },
        },
    )
    assert created.status_code == 201, created.text
