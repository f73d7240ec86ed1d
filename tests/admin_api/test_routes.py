"""Routes: path rules, references, uniqueness, versions."""

from __future__ import annotations

from typing import Any

from tests.conftest import Api
from tests.utils.backends import snapshot


async def _route(api: Api, **body: Any) -> Any:
    return await api.client.post("/api/v1/routes", json=body)


async def test_create_update_delete_route(api: Api) -> None:
    template = await api.create_template()
    dashboard = await api.create_dashboard(is_public=True)
    created = await _route(
        api,
        path="/sales/{region}",
        template_id=template["id"],
        method="GET",
        handler_config={
            "dashboard_id": dashboard["id"],
            "query_params": ["range"],
            "cache_ttl": 60,
        },
    )
    assert created.status_code == 201, created.text
    route = created.json()["data"]
    assert route["method"] == "GET"
    assert route["handler_config"]["auth"] == "public"
    updated = await api.client.put(
        f"/api/v1/routes/{route['id']}", json={"is_active": False}, headers={"If-Match": '"1"'}
    )
    assert updated.json()["data"]["version"] == 2
    assert updated.json()["data"]["is_active"] is False
    listed = (await api.client.get("/api/v1/routes")).json()["data"]
    assert listed["total"] == 1
    assert (await api.client.delete(f"/api/v1/routes/{route['id']}")).status_code == 200
    assert (await api.client.get(f"/api/v1/routes/{route['id']}")).status_code == 404


async def test_bad_routes_are_refused_and_nothing_saved(api: Api) -> None:
    template = await api.create_template()
    assert (await _route(api, path="/taken", template_id=template["id"])).status_code == 201
    before = await snapshot(api.backend.settings)
    tid = template["id"]
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"path": "no-slash", "template_id": tid}, 422, "start with '/'"),
        ({"path": "/api/x", "template_id": tid}, 422, "reserved prefix '/api'"),
        ({"path": "/assets", "template_id": tid}, 422, "reserved"),
        ({"path": "/healthz", "template_id": tid}, 422, "reserved"),
        ({"path": "/docs/x", "template_id": tid}, 422, "reserved prefix '/docs'"),
        ({"path": "/openapi.json", "template_id": tid}, 422, "reserved"),
        ({"path": "/.", "template_id": tid}, 422, "dot segment"),
        ({"path": "/..", "template_id": tid}, 422, "dot segment"),
        ({"path": "/a/../b", "template_id": tid}, 422, "dot segment"),
        ({"path": "/a/./b", "template_id": tid}, 422, "dot segment"),
        ({"path": "/x/", "template_id": tid}, 422, "end with"),
        ({"path": "/a b", "template_id": tid}, 422, "segment"),
        ({"path": "/{a}/{a}", "template_id": tid}, 422, "distinct"),
        ({"path": "/x", "template_id": tid, "method": "BREW"}, 422, "BREW"),
        # Methods are case-sensitive (RFC 9110), as the document's enum says.
        ({"path": "/x", "template_id": tid, "method": "get"}, 422, "'get'"),
        ({"path": "/x", "template_id": 999}, 422, "template 999"),
        ({"path": "/x", "template_id": tid, "handler_config": {"dashboard_id": 77}}, 422, "77"),
        ({"path": "/x", "template_id": tid, "handler_config": {"auth": "magic"}}, 422, "auth"),
        ({"path": "/x", "template_id": tid, "handler_config": {"bogus": 1}}, 422, "bogus"),
        ({"path": "/x", "template_id": "one"}, 422, "template_id"),
        ({"path": "/x" * 101, "template_id": tid}, 422, "200"),
        ({"path": "/taken", "template_id": tid}, 409, "already exists"),
    ]
    for body, status, fragment in cases:
        response = await _route(api, **body)
        assert response.status_code == status, (body, response.text)
        assert fragment in response.json()["message"], (fragment, response.json()["message"])
    assert await snapshot(api.backend.settings) == before


async def test_route_update_to_taken_path_is_409(api: Api) -> None:
    template = await api.create_template()
    await _route(api, path="/a", template_id=template["id"])
    second = (await _route(api, path="/b", template_id=template["id"])).json()["data"]
    response = await api.client.put(f"/api/v1/routes/{second['id']}", json={"path": "/a"})
    assert response.status_code == 409


async def test_dashboard_shown_by_a_route_cannot_be_deleted(api: Api) -> None:
    template = await api.create_template()
    dashboard = await api.create_dashboard(is_public=True)
    await _route(
        api, path="/d", template_id=template["id"], handler_config={"dashboard_id": dashboard["id"]}
    )
    response = await api.client.delete(f"/api/v1/dashboards/{dashboard['id']}")
    assert response.status_code == 409
    assert "/d" in response.json()["message"]


async def test_reserved_prefixes_end_at_a_segment_boundary(api: Api) -> None:
    template = await api.create_template()
    for path in ("/healthzfoo", "/metricsfoo", "/docs-x", "/apis", "/assets.x", "/a/.../b"):
        response = await _route(api, path=path, template_id=template["id"])
        assert response.status_code == 201, (path, response.text)


async def test_a_public_route_cannot_show_a_private_dashboard(api: Api) -> None:
    template = await api.create_template()
    private = await api.create_dashboard("private")
    public = await api.create_dashboard("public", is_public=True)
    guarded = await _route(
        api,
        path="/guarded",
        template_id=template["id"],
        handler_config={"dashboard_id": private["id"], "auth": "api_key"},
    )
    assert guarded.status_code == 201, guarded.text
    open_route = (
        await _route(
            api,
            path="/open",
            template_id=template["id"],
            handler_config={"dashboard_id": public["id"]},
        )
    ).json()["data"]
    before = await snapshot(api.backend.settings)
    refused = [
        await _route(
            api,
            path="/leak",
            template_id=template["id"],
            handler_config={"dashboard_id": private["id"]},
        ),
        await api.client.put(
            f"/api/v1/routes/{open_route['id']}",
            json={"handler_config": {"dashboard_id": private["id"]}},
        ),
        await api.client.put(
            f"/api/v1/routes/{guarded.json()['data']['id']}",
            json={"handler_config": {"dashboard_id": private["id"], "auth": "public"}},
        ),
    ]
    for response in refused:
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["data"]["details"]["field"] == "handler_config.auth"
        assert "handler_config.auth" in body["message"]
    private_again = await api.client.put(
        f"/api/v1/dashboards/{public['id']}", json={"is_public": False}
    )
    assert private_again.status_code == 409, private_again.text
    assert "/open" in private_again.json()["message"]
    assert await snapshot(api.backend.settings) == before
