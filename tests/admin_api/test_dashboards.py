"""Dashboards, widgets and the widget data push."""

from __future__ import annotations

from tests.conftest import Api
from tests.utils.backends import snapshot


async def test_dashboard_and_widget_lifecycle(api: Api) -> None:
    dashboard = await api.create_dashboard("ops", title="Ops", is_public=True)
    created = await api.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={
            "key": "cpu",
            "title": "CPU",
            "type": "gauge",
            "data": {"value": 3, "min": 0, "max": 10},
        },
    )
    assert created.status_code == 201, created.text
    widget = created.json()["data"]
    assert widget["data_version"] == 1
    widgets = (await api.client.get(f"/api/v1/dashboards/{dashboard['id']}/widgets")).json()
    assert [w["key"] for w in widgets["data"]["items"]] == ["cpu"]
    renamed = await api.client.put(f"/api/v1/widgets/{widget['id']}", json={"title": "CPU %"})
    assert renamed.json()["data"]["version"] == 2
    updated = await api.client.put(f"/api/v1/dashboards/{dashboard['id']}", json={"title": "Ops 2"})
    assert updated.json()["data"]["version"] == 2
    assert (await api.client.delete(f"/api/v1/widgets/{widget['id']}")).status_code == 200
    assert (await api.client.delete(f"/api/v1/dashboards/{dashboard['id']}")).status_code == 200
    assert (await api.client.get(f"/api/v1/dashboards/{dashboard['id']}")).status_code == 404


async def test_data_push_bumps_data_version_once_per_change(api: Api) -> None:
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w", "data": [1]}
        )
    ).json()["data"]
    path = f"/api/v1/data/widget/{widget['id']}"
    first = await api.client.post(path, json={"data": {"points": [1, 2, 3]}})
    assert first.status_code == 200
    assert first.json()["data"]["data_version"] == 2
    same = await api.client.post(path, json={"data": {"points": [1, 2, 3]}})
    assert same.json()["data"]["data_version"] == 2
    fetched = (await api.client.get(f"/api/v1/widgets/{widget['id']}")).json()["data"]
    assert fetched["data"] == {"points": [1, 2, 3]}


async def test_bad_dashboard_and_widget_input(api: Api) -> None:
    dashboard = await api.create_dashboard("taken")
    await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    before = await snapshot(api.backend.settings)
    cases = [
        ("POST", "/api/v1/dashboards", {"name": "taken"}, 409, "already exists"),
        ("POST", "/api/v1/dashboards", {"name": ""}, 422, "name"),
        ("POST", "/api/v1/dashboards", {"name": "x", "is_public": "maybe"}, 422, "is_public"),
        ("POST", f"/api/v1/dashboards/{dashboard['id']}/widgets", {"key": "w"}, 409, "'w'"),
        ("POST", "/api/v1/dashboards/999/widgets", {"key": "z"}, 404, "999"),
        ("POST", "/api/v1/data/widget/999", {"data": {}}, 404, "999"),
        ("POST", "/api/v1/data/widget/1", {"values": {}}, 422, "data"),
        ("POST", "/api/v1/data/widget/1", {"data": "x" * 600_000}, 422, "524288"),
        ("PUT", "/api/v1/widgets/999", {"title": "t"}, 404, "999"),
        ("GET", "/api/v1/widgets/abc", None, 422, "widget_id"),
    ]
    for method, path, body, status, fragment in cases:
        response = await api.client.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.text)
        assert fragment in response.json()["message"], (fragment, response.json()["message"])
    assert await snapshot(api.backend.settings) == before


async def test_widget_config_template_must_name_an_existing_template(api: Api) -> None:
    await api.create_template("card", "<b>{{ widget.key }}</b>")
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            json={"key": "w", "config": {"template": "card"}},
        )
    ).json()["data"]
    before = await snapshot(api.backend.settings)
    for method, path, body in (
        (
            "POST",
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            {"key": "x", "config": {"template": "ghost"}},
        ),
        (
            "POST",
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            {"key": "y", "config": {"template": 3}},
        ),
        ("PUT", f"/api/v1/widgets/{widget['id']}", {"config": {"template": "ghost"}}),
    ):
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, response.text
        assert response.json()["data"]["details"]["field"] == "config.template"
        assert "config.template" in response.json()["message"]
    assert await snapshot(api.backend.settings) == before


async def test_a_template_a_widget_renders_with_cannot_be_deleted_or_renamed(api: Api) -> None:
    template = await api.create_template("card", "<b>{{ widget.key }}</b>")
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets",
            json={"key": "w", "config": {"template": "card"}},
        )
    ).json()["data"]
    before = await snapshot(api.backend.settings)
    deleted = await api.client.delete(f"/api/v1/templates/{template['id']}")
    renamed = await api.client.put(f"/api/v1/templates/{template['id']}", json={"name": "other"})
    for response in (deleted, renamed):
        assert response.status_code == 409, response.text
        assert response.json()["data"]["details"] == {"used_by_widgets": [widget["id"]]}
    assert await snapshot(api.backend.settings) == before
    released = await api.client.put(f"/api/v1/widgets/{widget['id']}", json={"config": {}})
    assert released.status_code == 200
    assert (await api.client.delete(f"/api/v1/templates/{template['id']}")).status_code == 200
