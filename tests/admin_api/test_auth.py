"""API keys, scopes, rate limiting and CORS."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import httpx
import pytest

from dyndash_common.apikeys import create_key, ensure_key
from dyndash_common.db import Database, create_engine
from tests.conftest import Api, start_api
from tests.utils.backends import TEST_PEPPER, Backend, snapshot


async def test_missing_invalid_and_malformed_keys_are_401(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        for headers in (
            {},
            {"X-API-Key": "ddk_not-a-real-key-at-all"},
            {"Authorization": "Bearer ddk_wrong"},
            {"Authorization": "Basic abc"},
        ):
            response = await anonymous.get("/api/v1/templates", headers=headers)
            assert response.status_code == 401, headers
            body = response.json()
            assert body["status"] == "error"
            assert body["data"]["code"] == "unauthorized"
            assert "key" in body["message"]


async def test_keys_longer_than_the_format_allows_are_refused_unhashed(api: Api) -> None:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        for headers in (
            {"X-API-Key": "ddk_" + "k" * 125},
            {"Authorization": "Bearer " + "k" * 10_000},
        ):
            response = await anonymous.get("/api/v1/templates", headers=headers)
            assert response.status_code == 401
            assert "at most 128 characters" in response.json()["message"]


async def test_bearer_key_is_accepted(api: Api) -> None:
    secret = await api.create_key("data:read")
    async with httpx.AsyncClient(base_url=api.base_url) as client:
        response = await client.get(
            "/api/v1/templates", headers={"Authorization": f"Bearer {secret}"}
        )
    assert response.status_code == 200


async def test_revoked_key_is_401(api: Api) -> None:
    secret = await api.create_key("templates:write")
    keys = (await api.client.get("/api/v1/keys")).json()["data"]["items"]
    key_id = next(k["id"] for k in keys if k["name"] == "test")
    assert (await api.client.delete(f"/api/v1/keys/{key_id}")).status_code == 200
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": secret}) as client:
        response = await client.get("/api/v1/templates")
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


async def test_a_revoked_bootstrap_key_stays_revoked_across_restarts(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    other_admin = await api.create_key("admin")
    keys = (await api.client.get("/api/v1/keys")).json()["data"]["items"]
    bootstrap_id = next(k["id"] for k in keys if k["name"] == "bootstrap")
    async with httpx.AsyncClient(
        base_url=api.base_url, headers={"X-API-Key": other_admin}
    ) as admin:
        assert (await admin.delete(f"/api/v1/keys/{bootstrap_id}")).status_code == 200
    with caplog.at_level(logging.WARNING, logger="dyndash.keys"):
        async for restarted in start_api(api.backend):
            response = await restarted.client.get("/api/v1/templates")
            assert response.status_code == 401
            assert "revoked" in response.json()["message"]
    warnings = [r for r in caplog.records if r.getMessage() == "bootstrap_key_revoked"]
    assert len(warnings) == 1
    assert warnings[0].details["rotate"] == "DYNDASH_BOOTSTRAP_API_KEY"  # type: ignore[attr-defined]


async def test_ensure_key_keeps_an_existing_keys_scopes(backend: Backend) -> None:
    database = Database(create_engine(backend.settings.database_url))
    secret = "ddk_dev-key-0123456789-0123456789"
    async with database.write() as session:
        row, _ = await create_key(
            session, pepper=TEST_PEPPER, name="dev", scopes=["data:read"], secret=secret
        )
    async with database.write() as session:
        again = await ensure_key(
            session, pepper=TEST_PEPPER, secret=secret, name="dev", source=".dyndash/dev-api-key"
        )
        assert (again.id, again.scopes) == (row.id, ["data:read"])
    await database.dispose()


async def test_expired_key_is_401(api: Api) -> None:
    database = Database(create_engine(api.backend.settings.database_url))
    async with database.write() as session:
        _, secret = await create_key(
            session,
            pepper=TEST_PEPPER,
            name="old",
            scopes=["admin"],
            expires_at=datetime.now(UTC) - timedelta(seconds=1),
        )
    await database.dispose()
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": secret}) as client:
        response = await client.get("/api/v1/templates")
    assert response.status_code == 401
    assert "expired" in response.json()["message"]


async def test_wrong_scope_is_403_and_changes_nothing(api: Api) -> None:
    reader = await api.create_key("data:read")
    before = await snapshot(api.backend.settings)
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": reader}) as client:
        assert (await client.get("/api/v1/templates")).status_code == 200
        for method, path, body in (
            ("POST", "/api/v1/templates", {"name": "x"}),
            ("POST", "/api/v1/routes", {"path": "/x", "template_id": 1}),
            ("POST", "/api/v1/dashboards", {"name": "x"}),
            ("POST", "/api/v1/data/widget/1", {"data": {}}),
            ("POST", "/api/v1/keys", {"name": "x", "scopes": ["admin"]}),
            ("GET", "/api/v1/keys", None),
            ("GET", "/api/v1/events", None),
        ):
            response = await client.request(method, path, json=body)
            assert response.status_code == 403, (method, path)
            assert "scope" in response.json()["message"]
    assert await snapshot(api.backend.settings) == before


async def test_scoped_key_can_do_its_job(api: Api) -> None:
    writer = await api.create_key("templates:write")
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": writer}) as client:
        response = await client.post("/api/v1/templates", json={"name": "mine"})
    assert response.status_code == 201


async def test_keys_are_listed_without_secrets_and_record_use(api: Api) -> None:
    secret = await api.create_key("data:read")
    async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": secret}) as client:
        await client.get("/api/v1/templates")
    response = await api.client.get("/api/v1/keys")
    assert secret not in response.text
    assert secret[4:] not in response.text
    used = next(k for k in response.json()["data"]["items"] if k["name"] == "test")
    assert used["last_used_at"] is not None
    assert used["prefix"] == secret[:8]


async def test_bad_key_requests_are_422(api: Api) -> None:
    for body, fragment in (
        ({"name": "k", "scopes": ["root"]}, "root"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["admin"], "expires_at": "2000-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "k", "scopes": ["admin"], "expires_at": "soon"}, "expires_at"),
    ):
        response = await api.client.post("/api/v1/keys", json=body)
        assert response.status_code == 422, body
        assert fragment in response.json()["message"]


@pytest.fixture
async def limited_api(backend: Backend) -> object:
    async for running in start_api(
        backend.with_settings(rate_limit_requests=3, rate_limit_window_seconds=30)
    ):
        yield running


async def test_rate_limit_answers_429_with_headers(limited_api: Api) -> None:
    statuses = []
    for _ in range(4):
        response = await limited_api.client.get("/api/v1/templates")
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    assert response.json()["data"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 30
    assert response.headers["ratelimit-policy"] == '"default";q=3;w=30'
    assert response.headers["ratelimit"].startswith('"default";r=0;t=')


async def test_anonymous_attempts_are_limited_by_address(limited_api: Api) -> None:
    async with httpx.AsyncClient(base_url=limited_api.base_url) as anonymous:
        statuses = [(await anonymous.get("/api/v1/templates")).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]


@pytest.fixture
async def cors_api(backend: Backend) -> object:
    async for running in start_api(backend.with_settings(cors_origins=["https://ok.example"])):
        yield running


async def test_cors_allows_only_configured_origins(cors_api: Api) -> None:
    allowed = await cors_api.client.options(
        "/api/v1/templates",
        headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "PUT"},
    )
    assert allowed.headers["access-control-allow-origin"] == "https://ok.example"
    denied = await cors_api.client.options(
        "/api/v1/templates",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"},
    )
    assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize("trusted", [False, True])
async def test_forwarded_for_chooses_the_bucket_only_from_a_trusted_proxy(
    backend: Backend, trusted: bool
) -> None:
    settings: dict[str, object] = {"rate_limit_requests": 2, "rate_limit_window_seconds": 60}
    if trusted:
        settings["trusted_proxies"] = [ip_network("127.0.0.1/32")]
    async for running in start_api(backend.with_settings(**settings)):
        async with httpx.AsyncClient(base_url=running.base_url) as anonymous:
            statuses = [
                (
                    await anonymous.get(
                        "/api/v1/templates", headers={"X-Forwarded-For": f"198.51.100.{n}"}
                    )
                ).status_code
                for n in range(4)
            ]
            # Forged left of the proxy's entry: the proxy's entry (the last) is the client.
            forged = [
                (
                    await anonymous.get(
                        "/api/v1/templates",
                        headers={"X-Forwarded-For": f"192.0.2.{n}, 203.0.113.9"},
                    )
                ).status_code
                for n in range(3)
            ]
    if trusted:
        assert statuses == [401, 401, 401, 401]
        assert forged == [401, 401, 429]
    else:
        assert statuses == [401, 401, 429, 429]
        assert forged == [429, 429, 429]
