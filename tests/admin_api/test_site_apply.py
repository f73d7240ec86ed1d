"""POST /api/v1/site/apply and GET /api/v1/site/export: one atomic apply of a whole site."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import Api
from tests.utils.backends import snapshot
from tests.utils.sites import small_site

APPLY = "/api/v1/site/apply"


async def _apply(api: Api, bundle: dict[str, Any], **params: Any) -> httpx.Response:
    body = {"bundle": bundle, **params.pop("body", {})}
    query = {k: str(v).lower() for k, v in params.items()}
    return await api.client.post(APPLY, json=body, params=query)


async def _events(api: Api) -> list[dict[str, Any]]:
    state = await snapshot(api.backend.settings)
    # SQLite hands JSON columns back as text.
    return [
        {**row, "payload": json.loads(row["payload"])} if isinstance(row["payload"], str) else row
        for row in state["events"]
    ]


async def test_apply_creates_everything_in_one_event_then_reapply_is_a_noop(api: Api) -> None:
    plan = await _apply(api, small_site(), dry_run=True)
    assert plan.status_code == 200, plan.text
    data = plan.json()["data"]
    assert data["applied"] is False
    assert data["summary"]["create"] == 7  # 2 templates, 2 routes, 1 dashboard, 2 widgets
    assert data["expected_versions"]["template:home"] == 0
    home = next(c for c in data["changes"] if c["name"] == "home")
    assert "+++ b/templates/home.html" in home["diff"]
    assert await _events(api) == []

    applied = await _apply(api, small_site(), body={"expected_versions": data["expected_versions"]})
    assert applied.status_code == 200, applied.text
    result = applied.json()["data"]
    assert result["applied"] is True
    assert {c["new_version"] for c in result["changes"]} == {1}
    events = await _events(api)
    assert [e["type"] for e in events] == ["site.applied"]
    assert len(events[0]["payload"]["changes"]) == 7
    assert events[0]["version"] == events[0]["id"]

    template = (await api.client.get("/api/v1/templates", params={"name": "home"})).json()
    assert template["data"]["items"][0]["dependencies"] == ["partials/header"]
    routes = (await api.client.get("/api/v1/routes")).json()["data"]["items"]
    sales = next(r for r in routes if r["path"] == "/sales/{region}")
    dashboards = (await api.client.get("/api/v1/dashboards")).json()["data"]["items"]
    assert sales["handler_config"]["dashboard_id"] == dashboards[0]["id"]
    assert sales["managed_by"] == "files"

    again = await _apply(api, small_site())
    assert again.json()["data"]["applied"] is False
    assert again.json()["data"]["summary"]["unchanged"] == 7
    assert len(await _events(api)) == 1


async def test_only_changed_objects_get_new_versions(api: Api) -> None:
    assert (await _apply(api, small_site())).status_code == 200
    changed = small_site()
    changed["templates"][0]["html_content"] = "<h1>v2</h1>"
    changed["dashboards"][0]["widgets"][0]["data"] = {"value": 2}
    plan = (await _apply(api, changed, dry_run=True)).json()["data"]
    by_name = {(c["kind"], c["name"]): c for c in plan["changes"]}
    header = by_name[("template", "partials/header")]
    assert header["action"] == "update"
    assert "-<h1>v1</h1>" in header["diff"]
    assert "+<h1>v2</h1>" in header["diff"]
    assert by_name[("widget", "sales/revenue")]["fields"] == ["data"]
    assert plan["summary"] == {"create": 0, "update": 2, "delete": 0, "unchanged": 5, "adopt": 0}
    result = (await _apply(api, changed)).json()["data"]
    versions = {(c["kind"], c["name"]): c["new_version"] for c in result["changes"]}
    assert versions[("template", "partials/header")] == 2
    assert versions[("template", "home")] == 1
    widget = next(
        w
        for w in (await api.client.get("/api/v1/dashboards/1/widgets")).json()["data"]["items"]
        if w["key"] == "revenue"
    )
    assert widget["data"] == {"value": 2}
    assert widget["data_version"] == 2
    events = await _events(api)
    assert len(events) == 2
    assert sorted(p["type"] for p in events[1]["payload"]["changes"]) == [
        "template.updated",
        "widget.data_updated",
    ]


async def test_prune_deletes_what_the_bundle_lacks(api: Api) -> None:
    await api.create_template("stray")
    assert (await _apply(api, small_site())).status_code == 200
    smaller = small_site()
    smaller["routes"] = smaller["routes"][:1]
    smaller["dashboards"] = []
    kept = (await _apply(api, smaller, dry_run=True)).json()["data"]
    assert kept["summary"]["delete"] == 0
    pruned = (await _apply(api, smaller, prune=True)).json()["data"]
    deleted = sorted((c["kind"], c["name"]) for c in pruned["changes"] if c["action"] == "delete")
    assert deleted == [("dashboard", "sales"), ("route", "/sales/{region}"), ("template", "stray")]
    exported = (await api.client.get("/api/v1/site/export")).json()["data"]
    assert [t["name"] for t in exported["templates"]] == ["home", "partials/header"]
    assert exported["dashboards"] == []


async def test_export_is_the_bundle_back(api: Api) -> None:
    assert (await _apply(api, small_site())).status_code == 200
    exported = (await api.client.get("/api/v1/site/export")).json()["data"]
    assert [t["name"] for t in exported["templates"]] == ["home", "partials/header"]
    assert exported["routes"][1]["dashboard"] == "sales"
    assert "dashboard_id" not in exported["routes"][1]["handler_config"]
    # Widgets come in their dashboard's order: a position left out is the place in the list.
    widgets = exported["dashboards"][0]["widgets"]
    assert [(w["key"], w["position"], w["priority"]) for w in widgets] == [
        ("revenue", 0, 0),
        ("orders", 1, 0),
    ]
    again = await _apply(api, exported)
    assert again.json()["data"]["applied"] is False


async def test_existing_objects_are_adopted_without_a_version(api: Api) -> None:
    await api.create_template("partials/header", "<h1>v1</h1>")
    plan = (await _apply(api, small_site(), dry_run=True)).json()["data"]
    header = next(c for c in plan["changes"] if c["name"] == "partials/header")
    assert header["action"] == "adopt"
    result = (await _apply(api, small_site())).json()["data"]
    header = next(c for c in result["changes"] if c["name"] == "partials/header")
    assert header["new_version"] == 1
    row = (await api.client.get("/api/v1/templates/1")).json()["data"]
    assert row["managed_by"] == "files"
    assert row["version"] == 1


async def _refused(api: Api, bundle: dict[str, Any], status: int, text: str, **params: Any) -> Any:
    before = await snapshot(api.backend.settings)
    response = await _apply(api, bundle, **params)
    assert response.status_code == status, response.text
    assert text in response.json()["message"], response.json()["message"]
    assert await snapshot(api.backend.settings) == before
    return response.json()


async def test_bad_bundles_change_nothing(api: Api) -> None:
    assert (await _apply(api, small_site())).status_code == 200
    invalid = small_site("v2")
    invalid["templates"].append({"name": "broken", "html_content": "ok\n{% if %}\n"})
    body = await _refused(api, invalid, 422, "templates/broken.html")
    assert body["data"]["details"]["line"] == 2
    assert "line 2" in body["message"]

    missing = small_site("v2")
    missing["routes"].append({"path": "/x", "template": "nowhere"})
    await _refused(api, missing, 422, "template 'nowhere'")

    cycle = small_site("v2")
    cycle["templates"][0]["html_content"] = '{% include "home" %}'
    await _refused(api, cycle, 422, "include cycle")

    unknown_include = small_site("v2")
    unknown_include["templates"][0]["html_content"] = '{% include "ghost" %}'
    await _refused(api, unknown_include, 422, "unknown template(s) ghost")

    bad_path = small_site("v2")
    bad_path["routes"].append({"path": "/api/x", "template": "home"})
    response = await _apply(api, bad_path)
    assert response.status_code == 422

    private = small_site("v2")
    private["dashboards"][0]["is_public"] = False
    await _refused(api, private, 422, "is public but dashboard 'sales' is not")

    twice = small_site("v2")
    twice["templates"].append({"name": "home"})
    await _refused(api, twice, 422, "appears twice")

    widget = small_site("v2")
    widget["dashboards"][0]["widgets"][0]["config"] = {"template": "ghost"}
    await _refused(api, widget, 422, "names no template")


async def test_stale_expected_versions_are_409_and_change_nothing(api: Api) -> None:
    assert (await _apply(api, small_site())).status_code == 200
    plan = (await _apply(api, small_site("v2"), dry_run=True)).json()["data"]
    home = (await api.client.get("/api/v1/templates", params={"name": "home"})).json()
    template_id = home["data"]["items"][0]["id"]
    moved = await api.client.put(
        f"/api/v1/templates/{template_id}",
        json={"description": "edited by hand"},
        params={"force": "true"},
    )
    assert moved.status_code == 200, moved.text
    body = await _refused(
        api,
        small_site("v2"),
        409,
        "template:home is at version 2, the plan saw 1",
        body={"expected_versions": plan["expected_versions"]},
    )
    assert body["data"]["details"]["stale"] == {"template:home": {"expected": 1, "current": 2}}


async def test_oversized_bundle_is_413(api: Api) -> None:
    small = api.backend.with_settings(max_bundle_bytes=64 * 1024)
    from tests.conftest import start_api

    async for running in start_api(small):
        before = await snapshot(small.settings)
        bundle = {"templates": [{"name": "big", "html_content": "x" * (100 * 1024)}]}
        response = await running.client.post(APPLY, json={"bundle": bundle})
        assert response.status_code == 413
        assert response.json()["data"]["details"]["limit_bytes"] == 64 * 1024
        assert await snapshot(small.settings) == before
        # Other endpoints keep the ordinary limit, the apply its own.
        assert (await running.client.post(APPLY, json={"bundle": {}})).status_code == 200


async def test_the_default_limit_refuses_a_50_mb_bundle(api: Api) -> None:
    before = await snapshot(api.backend.settings)
    body = (
        b'{"bundle": {"templates": [{"name": "big", "html_content": "'
        + b"x" * (50 * 1024 * 1024)
        + b'"}]}}'
    )
    response = await api.client.post(
        APPLY, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert await snapshot(api.backend.settings) == before


async def test_apply_needs_the_site_apply_scope(api: Api) -> None:
    templates_only = await api.create_key("templates:write", "routes:write", "dashboards:write")
    response = await api.client.post(
        APPLY, json={"bundle": small_site()}, headers={"X-API-Key": templates_only}
    )
    assert response.status_code == 403
    assert "site:apply" in response.json()["message"]
    applier = await api.create_key("site:apply")
    response = await api.client.post(
        APPLY, json={"bundle": small_site()}, headers={"X-API-Key": applier}
    )
    assert response.status_code == 200, response.text


async def test_widget_data_is_checked_against_its_type_and_nothing_changes(api: Api) -> None:
    """The built-in types' schemas hold for a bundle as for a single write (README, "Widgets");
    non-finite numbers, a bad layout route and a bad CSP origin are refused too."""
    before = await snapshot(api.backend.settings)
    bad_stat = small_site()
    bad_stat["dashboards"][0]["widgets"][0]["data"] = {"value": "many"}
    response = await _apply(api, bad_stat)
    assert response.status_code == 422, response.text
    error = response.json()
    assert "dashboards/sales.yaml: widget 'revenue'" in error["message"]
    assert error["data"]["details"]["field"] == "data.value"
    assert error["data"]["details"]["file"] == "dashboards/sales.yaml"

    no_layout_dashboard = small_site()
    no_layout_dashboard["routes"].append({"path": "/bare"})
    assert (await _apply(api, no_layout_dashboard)).status_code == 422

    bad_origin = small_site()
    bad_origin["routes"][0]["handler_config"]["csp"] = {"img-src": ["https://cdn.example/x"]}
    assert (await _apply(api, bad_origin)).status_code == 422
    assert await snapshot(api.backend.settings) == before


async def test_a_route_without_a_template_renders_the_layout_and_round_trips(api: Api) -> None:
    site = small_site()
    site["routes"].append({"path": "/board", "dashboard": "sales"})
    site["dashboards"][0]["widgets"][0]["priority"] = 2
    assert (await _apply(api, site)).status_code == 200
    exported = (await api.client.get("/api/v1/site/export")).json()["data"]
    board = next(r for r in exported["routes"] if r["path"] == "/board")
    assert (board["template"], board["dashboard"]) == (None, "sales")
    revenue = exported["dashboards"][0]["widgets"][0]
    assert (revenue["key"], revenue["priority"]) == ("revenue", 2)
    again = (await _apply(api, exported, dry_run=True)).json()["data"]
    assert again["summary"].get("create", 0) == again["summary"].get("update", 0) == 0
