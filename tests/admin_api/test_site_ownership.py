"""Objects a site apply wrote are `managed_by: "files"`: admin API writes to them are 409
unless forced, and a forced write is recorded in its event."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Api
from tests.utils.backends import snapshot
from tests.utils.sites import small_site


async def _ids(api: Api) -> dict[str, Any]:
    assert (
        await api.client.post("/api/v1/site/apply", json={"bundle": small_site()})
    ).status_code == 200
    templates = (await api.client.get("/api/v1/templates")).json()["data"]["items"]
    routes = (await api.client.get("/api/v1/routes")).json()["data"]["items"]
    dashboard = (await api.client.get("/api/v1/dashboards")).json()["data"]["items"][0]
    widgets = (await api.client.get(f"/api/v1/dashboards/{dashboard['id']}/widgets")).json()
    return {
        "template": next(t for t in templates if t["name"] == "home")["id"],
        "route": next(r for r in routes if r["path"] == "/")["id"],
        "dashboard": dashboard["id"],
        "widget": widgets["data"]["items"][0]["id"],
    }


async def test_api_writes_to_managed_objects_are_409_and_change_nothing(api: Api) -> None:
    ids = await _ids(api)
    for path in (
        f"/api/v1/templates/{ids['template']}",
        f"/api/v1/routes/{ids['route']}",
        f"/api/v1/dashboards/{ids['dashboard']}",
        f"/api/v1/widgets/{ids['widget']}",
    ):
        shown = (await api.client.get(path)).json()["data"]
        assert shown["managed_by"] == "files"
    before = await snapshot(api.backend.settings)
    attempts = [
        ("PUT", f"/api/v1/templates/{ids['template']}", {"description": "by hand"}),
        ("DELETE", f"/api/v1/templates/{ids['template']}", None),
        ("POST", f"/api/v1/templates/{ids['template']}/rollback", {"version": 1}),
        ("PUT", f"/api/v1/routes/{ids['route']}", {"is_active": False}),
        ("DELETE", f"/api/v1/routes/{ids['route']}", None),
        ("PUT", f"/api/v1/dashboards/{ids['dashboard']}", {"title": "by hand"}),
        ("DELETE", f"/api/v1/dashboards/{ids['dashboard']}", None),
        ("POST", f"/api/v1/dashboards/{ids['dashboard']}/widgets", {"key": "extra"}),
        ("PUT", f"/api/v1/widgets/{ids['widget']}", {"title": "by hand"}),
        ("DELETE", f"/api/v1/widgets/{ids['widget']}", None),
    ]
    for method, path, body in attempts:
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 409, (method, path, response.text)
        assert "managed by files" in response.json()["message"]
        assert "force=true" in response.json()["message"]
    assert await snapshot(api.backend.settings) == before


async def test_forced_writes_go_through_and_are_recorded(api: Api) -> None:
    ids = await _ids(api)
    forced = await api.client.put(
        f"/api/v1/templates/{ids['template']}",
        json={"description": "by hand"},
        params={"force": "true"},
    )
    assert forced.status_code == 200, forced.text
    assert forced.json()["data"]["managed_by"] == "files"
    deleted = await api.client.delete(f"/api/v1/routes/{ids['route']}", params={"force": "true"})
    assert deleted.status_code == 200, deleted.text
    events = (await snapshot(api.backend.settings))["events"]
    payloads = [
        (row["type"], json.loads(p) if isinstance(p := row["payload"], str) else p)
        for row in events
    ]
    assert payloads[1][0] == "template.updated"
    assert payloads[1][1]["forced"] is True
    assert payloads[2][0] == "route.deleted"
    assert payloads[2][1]["forced"] is True
    # The next apply puts the files' content back.
    plan = (
        await api.client.post(
            "/api/v1/site/apply", json={"bundle": small_site()}, params={"dry_run": "true"}
        )
    ).json()["data"]
    actions = {(c["kind"], c["name"]): c["action"] for c in plan["changes"]}
    assert actions[("template", "home")] == "update"
    assert actions[("route", "/")] == "create"


async def test_unmanaged_objects_and_data_pushes_need_no_force(api: Api) -> None:
    ids = await _ids(api)
    template = await api.create_template("by-hand")
    assert template["managed_by"] is None
    response = await api.client.put(
        f"/api/v1/templates/{template['id']}", json={"description": "fine"}
    )
    assert response.status_code == 200
    # Widget data is the live feed (scope data:write), not the site's shape.
    pushed = await api.client.post(
        f"/api/v1/data/widget/{ids['widget']}", json={"data": {"value": 9}}
    )
    assert pushed.status_code == 200, pushed.text
