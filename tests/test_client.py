"""dyndash.client: one method per admin API operation, errors as exceptions with the envelope."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from devtools.cluster import free_port
from dyndash.client import ApiError, Client, ServerUnreachable
from tests.conftest import Api
from tests.utils.backends import ADMIN_SECRET
from tests.utils.sites import small_site


def _session(base_url: str) -> dict[str, object]:
    with Client(base_url, ADMIN_SECRET) as client:
        created = client.templates_create({"name": "hello", "html_content": "<p>1</p>"})
        updated = client.templates_update(created["id"], {"html_content": "<p>2</p>"}, if_match=1)
        with pytest.raises(ApiError) as stale:
            client.templates_update(created["id"], {"html_content": "<p>3</p>"}, if_match=1)
        versions = client.template_versions_list(created["id"])
        plan = client.site_apply(small_site(), dry_run=True)
        applied = client.site_apply(small_site(), expected_versions=plan["expected_versions"])
        exported = client.site_export()
        home = client.templates_list(name="home")["items"][0]
        with pytest.raises(ApiError) as managed:
            client.templates_delete(home["id"])
        return {
            "updated": updated,
            "stale": stale.value,
            "versions": versions,
            "applied": applied,
            "exported": exported,
            "managed": managed.value,
        }


async def test_client_calls_and_errors(api: Api) -> None:
    result = await asyncio.to_thread(_session, api.base_url)
    assert result["updated"]["version"] == 2  # type: ignore[index]
    stale = result["stale"]
    assert isinstance(stale, ApiError)
    assert stale.status == 412
    assert stale.code == "precondition_failed"
    assert stale.details == {"expected": 1, "current": 2}
    assert stale.envelope["status"] == "error"
    assert result["versions"]["total"] == 2  # type: ignore[index]
    assert result["applied"]["applied"] is True  # type: ignore[index]
    assert len(result["exported"]["templates"]) == 3  # type: ignore[index]
    managed = result["managed"]
    assert isinstance(managed, ApiError)
    assert managed.status == 409
    assert "managed by files" in managed.message


def test_unreachable_server_and_transport_seam() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", "k") as client, pytest.raises(ServerUnreachable):
        client.site_export()

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-API-Key"] == "k"
        assert request.url.params["dry_run"] == "true"
        return httpx.Response(
            422,
            json={
                "status": "error",
                "data": {"code": "template_invalid", "details": {"line": 2}},
                "message": "templates/x.html: template syntax error on line 2",
                "timestamp": "2026-01-01T00:00:00.000Z",
            },
        )

    with (
        Client("http://dyndash", "k", transport=httpx.MockTransport(answer)) as client,
        pytest.raises(ApiError) as error,
    ):
        client.site_apply({}, dry_run=True)
    assert error.value.code == "template_invalid"
    assert error.value.details == {"line": 2}
