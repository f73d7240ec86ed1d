"""Templates: versioning, validation on write, rollback, deletion guards, If-Match."""

from __future__ import annotations

import asyncio

from tests.conftest import Api
from tests.utils.backends import snapshot


async def test_create_returns_envelope_version_and_etag(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/templates",
        json={"name": "home", "html_content": "<h1>{{ title }}</h1>", "config": {"a": 1}},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "success"
    assert body["timestamp"].endswith("Z")
    assert body["data"]["version"] == 1
    assert body["data"]["config"] == {"a": 1}
    assert response.headers["etag"] == '"1"'


async def test_update_makes_a_version_and_unchanged_content_does_not(api: Api) -> None:
    created = await api.create_template("home", "<p>one</p>")
    path = f"/api/v1/templates/{created['id']}"
    updated = await api.client.put(path, json={"html_content": "<p>two</p>", "message": "second"})
    assert updated.json()["data"]["version"] == 2
    again = await api.client.put(path, json={"html_content": "<p>two</p>"})
    assert again.status_code == 200
    assert again.json()["data"]["version"] == 2
    versions = (await api.client.get(f"{path}/versions")).json()["data"]
    assert [item["version"] for item in versions["items"]] == [2, 1]
    assert versions["items"][0]["message"] == "second"
    one = (await api.client.get(f"{path}/versions/1")).json()["data"]
    assert one["html_content"] == "<p>one</p>"


async def test_rollback_restores_old_content_as_a_new_version(api: Api) -> None:
    created = await api.create_template("home", "<p>first</p>", css_content="a{}")
    path = f"/api/v1/templates/{created['id']}"
    await api.client.put(path, json={"html_content": "<p>second</p>", "css_content": "b{}"})
    rolled = await api.client.post(f"{path}/rollback", json={"version": 1})
    assert rolled.status_code == 200, rolled.text
    data = rolled.json()["data"]
    assert data["version"] == 3
    assert data["html_content"] == "<p>first</p>"
    assert data["css_content"] == "a{}"
    history = (await api.client.get(f"{path}/versions")).json()["data"]["items"]
    assert [item["version"] for item in history] == [3, 2, 1]
    assert history[0]["message"] == "rollback to version 1"


async def test_rollback_to_missing_version_is_404(api: Api) -> None:
    created = await api.create_template()
    response = await api.client.post(
        f"/api/v1/templates/{created['id']}/rollback", json={"version": 9}
    )
    assert response.status_code == 404
    assert "no version 9" in response.json()["message"]


async def test_two_puts_racing_with_one_if_match_one_wins(api: Api) -> None:
    created = await api.create_template("home", "<p>base</p>")
    path = f"/api/v1/templates/{created['id']}"
    responses = await asyncio.gather(
        *(
            api.client.put(path, json={"html_content": f"<p>{n}</p>"}, headers={"If-Match": '"1"'})
            for n in range(2)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 412]
    loser = next(r for r in responses if r.status_code == 412).json()
    assert loser["status"] == "error"
    assert loser["data"]["code"] == "precondition_failed"
    winner = next(r for r in responses if r.status_code == 200).json()["data"]
    current = (await api.client.get(path)).json()["data"]
    assert current["version"] == 2
    assert current["html_content"] == winner["html_content"]


async def test_stale_if_match_changes_nothing(api: Api) -> None:
    created = await api.create_template()
    path = f"/api/v1/templates/{created['id']}"
    await api.client.put(path, json={"html_content": "<p>v2</p>"})
    before = await snapshot(api.backend.settings)
    put = await api.client.put(path, json={"html_content": "x"}, headers={"If-Match": '"1"'})
    delete = await api.client.delete(path, headers={"If-Match": '"1"'})
    assert (put.status_code, delete.status_code) == (412, 412)
    assert "current version is 2" in put.json()["message"]
    assert await snapshot(api.backend.settings) == before


async def test_malformed_if_match_is_400(api: Api) -> None:
    created = await api.create_template()
    response = await api.client.put(
        f"/api/v1/templates/{created['id']}", json={"description": "d"}, headers={"If-Match": "abc"}
    )
    assert response.status_code == 400
    assert "If-Match" in response.json()["message"]


async def test_matching_if_match_is_accepted(api: Api) -> None:
    created = await api.create_template()
    response = await api.client.put(
        f"/api/v1/templates/{created['id']}", json={"description": "d"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'


async def test_bad_templates_are_refused_with_a_reason_and_nothing_saved(api: Api) -> None:
    await api.create_template("partial", "<i>p</i>")
    before = await snapshot(api.backend.settings)
    cases = [
        ({"name": "a", "html_content": "<p>\n{% if %}</p>"}, 422, "line 2"),
        ({"name": "b", "html_content": "{% include 'missing' %}"}, 422, "missing"),
        ({"name": "c", "html_content": "{% extends 'nope' %}"}, 422, "nope"),
        ({"name": "d", "html_content": "{% import 'gone' as g %}"}, 422, "gone"),
        ({"name": "e", "html_content": "{% include name_var %}"}, 422, "string literal"),
        ({"name": "self", "html_content": "{% include 'self' %}"}, 422, "itself"),
        ({"name": "partial", "html_content": "x"}, 409, "already exists"),
        ({"name": "f", "html_content": "x" * (256 * 1024 + 1)}, 422, "262144"),
        ({"name": "g" * 101}, 422, "100"),
        ({"name": "has space"}, 422, "name"),
        ({"name": "h", "config": "not an object"}, 422, "config"),
        ({"name": "i", "unknown_field": 1}, 422, "unknown_field"),
        ({"html_content": "x"}, 422, "name"),
    ]
    for body, status, fragment in cases:
        response = await api.client.post("/api/v1/templates", json=body)
        assert response.status_code == status, (body, response.text)
        payload = response.json()
        assert payload["status"] == "error"
        assert fragment in payload["message"], (fragment, payload["message"])
        assert "Traceback" not in response.text
    assert await snapshot(api.backend.settings) == before


async def test_syntax_error_reports_the_line(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/templates", json={"name": "bad", "html_content": "ok\nok\n{{ 1 + }}"}
    )
    assert response.status_code == 422
    assert response.json()["data"]["details"]["line"] == 3


async def test_include_cycle_is_refused(api: Api) -> None:
    a = await api.create_template("a", "A")
    await api.create_template("b", "{% include 'a' %}")
    response = await api.client.put(
        f"/api/v1/templates/{a['id']}", json={"html_content": "{% include 'b' %}"}
    )
    assert response.status_code == 422
    assert "cycle" in response.json()["message"]


async def test_oversized_body_is_413(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/templates",
        content=b'{"name": "big", "html_content": "' + b"x" * 1_100_000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "1048576" in response.json()["message"]


async def test_malformed_json_is_422(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/templates", content=b'{"name": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "not valid JSON" in response.json()["message"]


async def test_delete_guards_and_delete(api: Api) -> None:
    partial = await api.create_template("partial", "P")
    page = await api.create_template("page", "{% include 'partial' %}")
    route = await api.client.post("/api/v1/routes", json={"path": "/p", "template_id": page["id"]})
    assert route.status_code == 201
    before = await snapshot(api.backend.settings)
    used_by_route = await api.client.delete(f"/api/v1/templates/{page['id']}")
    assert used_by_route.status_code == 409
    assert "/p" in used_by_route.json()["message"]
    included = await api.client.delete(f"/api/v1/templates/{partial['id']}")
    assert included.status_code == 409
    assert "page" in included.json()["message"]
    renamed = await api.client.put(f"/api/v1/templates/{partial['id']}", json={"name": "other"})
    assert renamed.status_code == 409
    assert await snapshot(api.backend.settings) == before
    assert (
        await api.client.delete(f"/api/v1/routes/{route.json()['data']['id']}")
    ).status_code == 200
    assert (await api.client.delete(f"/api/v1/templates/{page['id']}")).status_code == 200
    assert (await api.client.get(f"/api/v1/templates/{page['id']}")).status_code == 404


async def test_unknown_id_is_404(api: Api) -> None:
    for method, path in (
        ("GET", "/api/v1/templates/999"),
        ("PUT", "/api/v1/templates/999"),
        ("DELETE", "/api/v1/templates/999"),
        ("GET", "/api/v1/templates/999/versions"),
    ):
        response = await api.client.request(method, path, json={} if method == "PUT" else None)
        assert response.status_code == 404, (method, path)
        assert response.json()["data"]["code"] == "not_found"


async def test_list_paginates_and_filters(api: Api) -> None:
    for name in ("a", "b", "c"):
        await api.create_template(name)
    page = (await api.client.get("/api/v1/templates", params={"limit": 2, "offset": 1})).json()
    assert page["data"]["total"] == 3
    assert [item["name"] for item in page["data"]["items"]] == ["b", "c"]
    named = (await api.client.get("/api/v1/templates", params={"name": "c"})).json()["data"]
    assert [item["name"] for item in named["items"]] == ["c"]
    too_big = await api.client.get("/api/v1/templates", params={"limit": 1000})
    assert too_big.status_code == 422
    assert "limit" in too_big.json()["message"]
