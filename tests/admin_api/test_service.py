"""The service as a whole: envelope on every error, OpenAPI, health, dependency outages."""

from __future__ import annotations

import httpx

from dyndash_admin_api.app import create_app
from dyndash_common.settings import Settings
from tests.conftest import Api
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER
from tests.utils.server import serve


async def test_unknown_path_and_method_use_the_envelope(api: Api) -> None:
    missing = await api.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["status"] == "error"
    wrong = await api.client.patch("/api/v1/templates")
    assert wrong.status_code == 405
    assert wrong.json()["data"]["code"] == "method_not_allowed"


async def test_openapi_declares_every_response(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert (await api.client.get("/docs")).status_code == 200
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = next(code for code in responses if code.startswith("2"))
            assert responses[success].get("content"), (method, path)
            if path.startswith("/api/v1"):
                assert "401" in responses, (method, path)
                assert "429" in responses, (method, path)


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = (await api.client.get("/readyz")).json()
    assert ready["status"] == "ready"
    expected = {"database"} | ({"redis"} if api.backend.name == "postgres" else set())
    assert set(ready["checks"]) == expected


async def test_request_id_is_echoed_or_generated(api: Api) -> None:
    echoed = await api.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await api.client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 16
    # Only plain tokens are echoed (the id lands in logs and headers); others are replaced.
    unsafe = await api.client.get("/healthz", headers={"X-Request-ID": "a b<script>"})
    assert unsafe.headers["x-request-id"] != "a b<script>"
    assert len(unsafe.headers["x-request-id"]) == 16


async def test_database_down_is_503_not_500() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        key_pepper=TEST_PEPPER,
        metrics_port=0,
    )
    async with (
        serve(create_app(settings)) as base_url,
        httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": ADMIN_SECRET}) as client,
    ):
        response = await client.get("/api/v1/templates")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.json()["data"]["code"] == "unavailable"
        assert "Traceback" not in response.text
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"].startswith("failed")
