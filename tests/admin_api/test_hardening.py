"""Inputs found by review and fuzzing: each refused with a 4xx and the database unchanged."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from dyndash_common.apikeys import create_key, hash_secret
from dyndash_common.db import Database, create_engine
from dyndash_common.logs import QUIET_LOGGERS
from dyndash_common.settings import Settings
from tests.conftest import Api
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER, Backend, snapshot


async def test_explicit_nulls_are_refused_where_a_field_cannot_be_null(api: Api) -> None:
    template = await api.create_template()
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    ).json()["data"]
    route = (
        await api.client.post("/api/v1/routes", json={"path": "/n", "template_id": template["id"]})
    ).json()["data"]
    before = await snapshot(api.backend.settings)
    for path, body in (
        (f"/api/v1/templates/{template['id']}", {"config": None}),
        (f"/api/v1/templates/{template['id']}", {"name": None}),
        (f"/api/v1/templates/{template['id']}", {"html_content": None}),
        (f"/api/v1/templates/{template['id']}", {"is_active": None}),
        (f"/api/v1/routes/{route['id']}", {"handler_config": None}),
        (f"/api/v1/dashboards/{dashboard['id']}", {"title": None}),
        (f"/api/v1/widgets/{widget['id']}", {"config": None}),
        (f"/api/v1/widgets/{widget['id']}", {"key": None}),
    ):
        response = await api.client.put(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert "may not be null" in response.json()["message"]
    assert await snapshot(api.backend.settings) == before
    cleared = await api.client.put(
        f"/api/v1/templates/{template['id']}", json={"description": None}
    )
    assert cleared.status_code == 200


async def test_unstorable_values_are_422(api: Api) -> None:
    template = await api.create_template()
    before = await snapshot(api.backend.settings)
    deep: object = 1
    for _ in range(300):
        deep = [deep]
    cases = [
        ("POST", "/api/v1/templates", {"name": "big", "config": {"n": 10**30}}, "JSON"),
        ("POST", "/api/v1/templates", {"name": "deep", "config": {"d": deep}}, "JSON"),
        ("POST", "/api/v1/templates", {"name": "nul", "html_content": "a\x00b"}, "NUL"),
        ("POST", "/api/v1/templates", {"name": "nul2", "config": {"k": "\x00"}}, "NUL"),
        ("GET", "/api/v1/templates/9999999999", None, "template_id"),
        ("GET", f"/api/v1/templates/{template['id']}/versions/9999999999", None, "version"),
        ("GET", "/api/v1/templates?offset=99999999999999999999", None, "offset"),
        ("POST", "/api/v1/routes", {"path": "/r", "template_id": 2**40}, "template_id"),
    ]
    for method, path, body, fragment in cases:
        response = await api.client.request(method, path, json=body)
        assert response.status_code == 422, (path, response.text)
        assert fragment in response.json()["message"], response.json()["message"]
    named = await api.client.get("/api/v1/templates", params={"name": "a\x00b"})
    assert named.status_code == 422
    assert await snapshot(api.backend.settings) == before


async def test_templates_that_nest_too_deeply_are_422(api: Api) -> None:
    for html in (
        "{{" + "(" * 5000 + "1" + ")" * 5000 + "}}",
        "{{ a" + "|e" * 400 + " }}",
    ):
        response = await api.client.post(
            "/api/v1/templates", json={"name": "n", "html_content": html}
        )
        assert response.status_code == 422, response.text
        assert "html_content" in response.json()["message"]


async def test_template_code_does_not_run_when_saving(api: Api) -> None:
    """Constant folding would run `slice(30000000)` at compile time, outside any budget."""
    saving = asyncio.create_task(
        api.client.post(
            "/api/v1/templates",
            json={"name": "folded", "html_content": "{{ []|slice(30000000)|min }}"},
        )
    )
    health = await api.client.get("/healthz")
    assert health.status_code == 200
    assert (await saving).status_code == 201
    preview = await api.client.post(
        "/api/v1/templates/preview", json={"html_content": "{{ []|slice(30000000)|min }}"}
    )
    assert preview.status_code == 422
    assert "budget" in preview.json()["message"]


async def test_widget_data_of_another_type_is_a_new_version(api: Api) -> None:
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    ).json()["data"]
    path = f"/api/v1/data/widget/{widget['id']}"
    versions = []
    for data in ({"a": 1}, {"a": True}, {"a": 1.0}, {"a": 1.0}):
        versions.append((await api.client.post(path, json={"data": data})).json()["data"])
    assert [v["data_version"] for v in versions] == [2, 3, 4, 4]
    assert versions[1]["data"] == {"a": True}


async def test_scopes_guard_every_write(api: Api) -> None:
    template = await api.create_template()
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    ).json()["data"]
    route = (
        await api.client.post("/api/v1/routes", json={"path": "/s", "template_id": template["id"]})
    ).json()["data"]
    reader = await api.create_key("data:read", "events:read")
    before = await snapshot(api.backend.settings)
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": reader}) as client:
        for method, path, body in (
            ("PUT", f"/api/v1/templates/{template['id']}", {"description": "x"}),
            ("DELETE", f"/api/v1/templates/{template['id']}", None),
            ("POST", f"/api/v1/templates/{template['id']}/rollback", {"version": 1}),
            ("POST", "/api/v1/templates/preview", {"html_content": "x"}),
            ("PUT", f"/api/v1/routes/{route['id']}", {"is_active": False}),
            ("DELETE", f"/api/v1/routes/{route['id']}", None),
            ("PUT", f"/api/v1/dashboards/{dashboard['id']}", {"title": "x"}),
            ("DELETE", f"/api/v1/dashboards/{dashboard['id']}", None),
            ("POST", f"/api/v1/dashboards/{dashboard['id']}/widgets", {"key": "z"}),
            ("PUT", f"/api/v1/widgets/{widget['id']}", {"title": "x"}),
            ("DELETE", f"/api/v1/widgets/{widget['id']}", None),
            ("DELETE", "/api/v1/keys/1", None),
        ):
            response = await client.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
    assert await snapshot(api.backend.settings) == before
    data_writer = await api.create_key("data:write")
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": data_writer}) as c:
        assert (await c.get("/api/v1/events")).status_code == 403


async def test_racing_updates_cannot_create_an_include_cycle(api: Api) -> None:
    x = await api.create_template("x", "X")
    y = await api.create_template("y", "Y")
    responses = await asyncio.gather(
        api.client.put(f"/api/v1/templates/{x['id']}", json={"html_content": "{% include 'y' %}"}),
        api.client.put(f"/api/v1/templates/{y['id']}", json={"html_content": "{% include 'x' %}"}),
    )
    assert sorted(r.status_code for r in responses) == [200, 422]


def test_sqlite_refuses_several_workers() -> None:
    with pytest.raises(ValidationError, match="PostgreSQL and Redis"):
        Settings(database_url="sqlite:///x.db", workers=2)


async def test_ids_in_paths_are_ascii_digits_only(api: Api) -> None:
    template = await api.create_template()
    assert template["id"] == 1
    for tail in ("+1", "%201", "0_1", "%D9%A1", "%C2%B9"):
        response = await api.client.get(f"/api/v1/templates/{tail}")
        assert response.status_code == 422, (tail, response.text)
        assert "ASCII digits" in response.json()["message"]


async def test_expiry_past_the_last_storable_time_is_422_and_logs_no_secret(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    before = await snapshot(api.backend.settings)
    with caplog.at_level(logging.DEBUG):
        for expires_at in ("9999-12-31T23:59:59-14:00", "9999-12-31T23:00:00-01:00"):
            response = await api.client.post(
                "/api/v1/keys", json={"name": "k", "scopes": ["admin"], "expires_at": expires_at}
            )
            assert response.status_code == 422, response.text
            assert response.json()["data"]["details"][0]["field"] == "expires_at"
    assert await snapshot(api.backend.settings) == before
    hashes = [row["key_hash"] for row in before["api_keys"]]
    # What configure_logging lets through at DEBUG: the drivers' statement logs are quiet.
    logged = "\n".join(
        record.getMessage() + repr(record.__dict__)
        for record in caplog.records
        if not record.name.startswith(QUIET_LOGGERS)
    )
    assert not any(key_hash[:16] in logged for key_hash in hashes)
    assert ADMIN_SECRET not in logged


async def test_database_errors_never_carry_statement_parameters(backend: Backend) -> None:
    database = Database(create_engine(backend.settings.database_url))
    secret = "ddk_parameter-secret-0123456789-abcdef"

    async def create_twice() -> None:
        async with database.write() as session:
            for name in ("a", "b"):
                await create_key(
                    session, pepper=TEST_PEPPER, name=name, scopes=["admin"], secret=secret
                )

    with pytest.raises(IntegrityError) as raised:
        await create_twice()
    await database.dispose()
    assert hash_secret(TEST_PEPPER, secret)[:16] not in str(raised.value)
    assert "hidden" in str(raised.value)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        pytest.param("?after=99999999999999999999999", {}, id="huge-after"),
        pytest.param("?after=-1", {}, id="negative-after"),
        pytest.param("", {"Last-Event-ID": "99999999999999999999999"}, id="huge-last-event-id"),
        pytest.param("", {"Last-Event-ID": "garbage"}, id="garbage-last-event-id"),
        pytest.param("", {"Last-Event-ID": "1e5"}, id="float-last-event-id"),
    ],
)
async def test_unusable_resume_points_are_422(
    api: Api, query: str, headers: dict[str, str]
) -> None:
    response = await api.client.get(f"/api/v1/events{query}", headers=headers)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["data"]["details"][0]["field"] in ("query.after", "header.last-event-id")


NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")


@pytest.mark.parametrize("number", NON_FINITE)
async def test_non_finite_numbers_are_422_in_every_json_body(api: Api, number: str) -> None:
    template = await api.create_template()
    dashboard = await api.create_dashboard()
    widget = (
        await api.client.post(f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"})
    ).json()["data"]
    before = await snapshot(api.backend.settings)
    cases = [
        ("POST", "/api/v1/templates", '{"name": "t2", "config": {"x": %s}}'),
        ("PUT", f"/api/v1/templates/{template['id']}", '{"config": {"x": [1, %s]}}'),
        ("POST", "/api/v1/dashboards", '{"name": "d2", "title": "t", "x": %s}'),
        ("POST", f"/api/v1/dashboards/{dashboard['id']}/widgets", '{"key": "k", "data": %s}'),
        ("PUT", f"/api/v1/widgets/{widget['id']}", '{"config": {"n": {"m": %s}}}'),
        ("POST", f"/api/v1/data/widget/{widget['id']}", '{"data": {"v": %s}}'),
        (
            "POST",
            "/api/v1/routes",
            '{"path": "/r", "template_id": 1, "handler_config": {"context": {"v": %s}}}',
        ),
        ("POST", "/api/v1/templates/preview", '{"html_content": "x", "context": {"v": %s}}'),
    ]
    for method, path, body in cases:
        response = await api.client.request(
            method,
            path,
            content=(body % number).encode(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, (path, response.status_code, response.text)
        assert response.json()["status"] == "error"
    assert await snapshot(api.backend.settings) == before
