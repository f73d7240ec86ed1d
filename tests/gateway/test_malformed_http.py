"""Requests the HTTP parser refuses before the application sees them: a version that is not
HTTP/1.x, a NUL in the method, target or a header. uvicorn (the admin API, and the gateway with
DYNDASH_GATEWAY_SERVER=uvicorn) answers them with the error envelope; granian (the gateway's
default) with hyper's bodiless 400, which it gives no way to replace (README, "Security: what
is enforced where"). Either way the server answers at once, closes that connection and goes on
serving everyone else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import orjson
import pytest

from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend

MALFORMED = {
    "version-without-minor": b"GET / HTTP/1\r\nHost: x\r\n\r\n",
    "unknown-minor-version": b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    "nul-in-method": b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul-before-method": b"\x00GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul-in-target": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "nul-in-header": b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n",
}
# A server that neither answers nor closes within this long is hung: the test fails then.
HANG_SECONDS = 10


@pytest.fixture(params=["granian", "uvicorn"])
async def any_server_site(backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    async for running in start_site(backend, {"gateway_server": request.param}):
        yield running


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


async def _send(address: tuple[str, int], raw: bytes) -> bytes:
    """Everything the server sends for `raw` until it closes the connection."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), HANG_SECONDS)
    finally:
        writer.close()


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def _assert_envelope_400(raw: bytes) -> None:
    status, headers, body = _parse(raw)
    assert status == 400, raw[:300]
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"
    envelope = orjson.loads(body)
    assert set(envelope) == {"status", "data", "message", "timestamp"}
    assert envelope["status"] == "error"
    assert envelope["data"]["code"] == "bad_request"
    assert "HTTP" in envelope["message"]


def _assert_bodiless_400(raw: bytes) -> None:
    status, headers, body = _parse(raw)
    assert (status, body) == (400, b""), raw[:300]
    assert headers["connection"] == "close"
    assert headers["content-length"] == "0"


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
async def test_malformed_request_is_400_and_the_gateway_keeps_serving(
    any_server_site: Site, raw: bytes
) -> None:
    site = any_server_site
    await site.publish_page("/still-here", "<p>still here</p>")
    server = site.gateway.settings.gateway_server
    answer = await _send(_address(str(site.web.base_url)), raw)
    if server == "uvicorn":
        _assert_envelope_400(answer)
    else:
        _assert_bodiless_400(answer)
    # The admin API runs on uvicorn whatever the gateway's setting: always the envelope.
    _assert_envelope_400(await _send(_address(site.admin.base_url), raw))
    # Only that connection was refused: pages and health checks are still answered.
    page = await site.page("/still-here")
    assert (page.status_code, page.text) == (200, "<p>still here</p>")
    assert (await site.web.get("/healthz")).status_code == 200
    assert (await site.admin.client.get("/healthz")).status_code == 200


async def test_a_flood_of_malformed_requests_leaves_the_gateway_serving(
    any_server_site: Site,
) -> None:
    site = any_server_site
    address = _address(str(site.web.base_url))
    answers = await asyncio.gather(*(_send(address, raw) for raw in [*MALFORMED.values()] * 20))
    assert {_parse(answer)[0] for answer in answers} == {400}
    assert (await site.web.get("/healthz")).status_code == 200
