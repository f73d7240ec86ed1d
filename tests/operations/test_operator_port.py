"""/metrics lives on each service's operator port, and no spelling of an operator path on a
public port reaches metrics, Swagger or the OpenAPI document; the operator listener answers
nothing else and cannot be held open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from devtools.cluster import free_port
from dyndash_common.settings import Settings
from dyndash_common.web import operator
from dyndash_common.web.operator import OperatorServer, operator_port
from tests.gateway.conftest import Site
from tests.operations.promtool import promtool_check

# Each spells an operator path the way a literal-path proxy rule would not match.
ENCODED = [
    "/%6detrics",
    "/%6Detrics",
    "/metric%73",
    "/%64ocs",
    "/%64ocs/oauth2-redirect",
    "/openapi%2Ejson",
    "/openapi%2ejson",
    "/%6fpenapi.json",
]


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


async def _request(address: tuple[str, int], raw: bytes, timeout: float = 5) -> bytes:
    """Send `raw` as is (no client normalises its path) and read until the server closes."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def _get(address: tuple[str, int], target: str, method: str = "GET") -> tuple[int, bytes]:
    raw = await _request(
        address, f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest


async def test_no_spelling_of_an_operator_path_reaches_the_framework(site: Site) -> None:
    gateway = _address(str(site.web.base_url))
    admin = _address(site.admin.base_url)
    for target in ["/metrics", *ENCODED]:
        status, rest = await _get(gateway, target)
        assert status == 404, (target, rest[:300])
        # The hot path's page, not the framework's JSON, and nothing of what the path names.
        assert b"There is no page at this address." in rest, (target, rest[:300])
        assert b"# TYPE" not in rest, target
        assert b"swagger" not in rest.lower(), target
        assert b'"openapi"' not in rest, target
    # The admin API serves no metrics on its public port either.
    for target in ("/metrics", "/%6detrics"):
        status, rest = await _get(admin, target)
        assert status == 404, (target, rest[:300])
        assert b"# TYPE" not in rest, target
    # The gateway's API documents stay public, deliberately, at their literal paths.
    assert (await site.web.get("/openapi.json")).json()["info"]["title"] == "dyndash gateway"
    assert "swagger" in (await site.web.get("/docs")).text.lower()


async def test_operator_ports_serve_metrics_and_nothing_else(metered_site: Site) -> None:
    site = metered_site
    for url in (site.web_metrics, site.admin_metrics):
        address = _address(url)
        response = await site.web.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == CONTENT_TYPE_LATEST
        assert response.headers["x-content-type-options"] == "nosniff"
        names = {family.name for family in text_string_to_metric_families(response.text)}
        assert {"dyndash_event_loop_lag_seconds", "process_resident_memory_bytes"} <= names
        assert "dyndash_db_pool_connections_in_use" in names
        promtool_check(response.content)
        # The query a scraper may add is not part of the path.
        assert (await _get(address, "/metrics?format=prometheus"))[0] == 200
        for target in ("/", "/metrics/", "/%6detrics", "/docs", "/openapi.json", "/healthz"):
            assert (await _get(address, target))[0] == 404, (url, target)
        status, rest = await _get(address, "/metrics", method="POST")
        assert status == 405
        assert b"\r\nAllow: GET\r\n" in rest


@asynccontextmanager
async def _listener(**limits: float) -> AsyncIterator[tuple[OperatorServer, tuple[str, int]]]:
    async def scrape() -> bytes:
        return b"# HELP up x\n# TYPE up gauge\nup 1.0\n"

    server = OperatorServer("127.0.0.1", 0, scrape)
    await server.start()
    try:
        yield server, ("127.0.0.1", server.bound_port)
    finally:
        await server.close()


async def test_a_slow_or_oversized_or_foreign_request_is_answered_and_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(operator, "HEAD_TIMEOUT_SECONDS", 0.3)
    async with _listener() as (_server, address):
        loop = asyncio.get_running_loop()
        started = loop.time()
        slow = await _request(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        assert slow.startswith(b"HTTP/1.1 408 "), slow
        assert loop.time() - started < 2
        silent = await _request(address, b"")
        assert silent.startswith(b"HTTP/1.1 408 "), silent
        big = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * (operator.MAX_HEAD_BYTES + 10)
        assert (await _request(address, big)).startswith(b"HTTP/1.1 431 ")
        foreign = await _request(address, b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n")
        assert foreign.startswith(b"HTTP/1.1 400 "), foreign
        # After all that it still answers.
        assert (await _get(address, "/metrics"))[0] == 200


async def test_connections_over_the_cap_are_closed_unread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(operator, "MAX_CONNECTIONS", 2)
    async with _listener() as (_server, address):
        held = [await asyncio.open_connection(*address) for _ in range(2)]
        await asyncio.sleep(0.1)  # both are being served (waiting for their heads)
        try:
            refused = await _request(address, b"GET /metrics HTTP/1.1\r\n\r\n", timeout=2)
        except ConnectionResetError:
            refused = b""  # closed before our request arrived, or with it unread
        assert refused == b""
        for _reader, writer in held:
            writer.close()
        await asyncio.sleep(0.1)
        assert (await _get(address, "/metrics"))[0] == 200


async def test_closing_ends_open_connections_at_once() -> None:
    async with _listener() as (server, address):
        reader, writer = await asyncio.open_connection(*address)
        await asyncio.sleep(0.1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await server.close()
        assert loop.time() - started < 1
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()


async def test_port_zero_is_off_and_a_taken_port_names_the_setting() -> None:
    async def scrape() -> bytes:
        return b""

    async with operator_port(Settings(metrics_port=0), scrape) as off:
        assert off is None
    port = free_port()
    settings = Settings(metrics_port=port)
    async with operator_port(settings, scrape) as first:
        assert first is not None
        assert first.bound_port == port
        with pytest.raises(OSError, match="DYNDASH_METRICS_PORT"):
            async with operator_port(settings, scrape):
                pass
    # Several server processes of one instance share it (DYNDASH_WORKERS > 1).
    shared = Settings(metrics_port=port, workers=2, database_url="postgresql://u@h/db")
    async with operator_port(shared, scrape) as one, operator_port(shared, scrape) as two:
        assert one is not None
        assert two is not None
        assert one.bound_port == two.bound_port == port
