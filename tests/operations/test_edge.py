"""The servers' edge, met through real sockets: header caps, slow headers, requests that are
not HTTP, and the headers every response carries. The gateway runs on each server it can be
given (DYNDASH_GATEWAY_SERVER); the admin API on uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import orjson
import pytest

from tests.gateway.conftest import Site, start_site
from tests.utils.backends import Backend

# hyper's smallest read buffer, so the cap is the same on both servers.
CAP = 8192


@pytest.fixture(params=["granian", "uvicorn"])
async def edge_site(backend: Backend, request: pytest.FixtureRequest) -> AsyncIterator[Site]:
    async for running in start_site(
        backend.with_settings(
            max_header_bytes=CAP, header_timeout_seconds=0.5, gateway_server=request.param
        )
    ):
        yield running


def _servers(site: Site) -> list[tuple[tuple[str, int], str]]:
    """Each service's address and the server it runs on."""
    admin, web = _addresses(site)
    return [(admin, "uvicorn"), (web, site.gateway.settings.gateway_server)]


def _addresses(site: Site) -> list[tuple[str, int]]:
    addresses = []
    for base in (site.admin.base_url, str(site.web.base_url)):
        parts = urlsplit(base)
        assert parts.hostname is not None
        assert parts.port is not None
        addresses.append((parts.hostname, parts.port))
    return addresses


async def _exchange(address: tuple[str, int], *chunks: bytes, pause: float = 0) -> bytes:
    """Send the chunks until the server has answered and closed, and return its answer."""
    reader, writer = await asyncio.open_connection(*address)
    answer = asyncio.create_task(reader.read())
    try:
        for chunk in chunks:
            if answer.done():
                break
            writer.write(chunk)
            await writer.drain()
            if pause:
                await asyncio.sleep(pause)
    except ConnectionError:
        pass  # the server refused and closed while we were still sending
    try:
        return await asyncio.wait_for(answer, 5)
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


def _assert_envelope(raw: bytes, status: int, code: str) -> None:
    got, headers, body = _parse(raw)
    assert got == status, raw[:300]
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["connection"] == "close"
    envelope = orjson.loads(body)
    assert envelope["status"] == "error"
    assert envelope["data"]["code"] == code
    assert set(envelope) == {"status", "data", "message", "timestamp"}


def _assert_refused(raw: bytes, status: int, code: str, server: str) -> None:
    """uvicorn (dyndash.server) answers our envelope; granian (hyper) a bodiless status, and
    nothing at all to headers that come too slowly: it closes the connection."""
    if server == "uvicorn":
        _assert_envelope(raw, status, code)
    elif status == 408:
        assert raw == b""
    else:
        got, headers, body = _parse(raw)
        assert (got, body) == (status, b""), raw[:300]
        assert headers["connection"] == "close"


async def test_headers_over_the_cap_are_431(edge_site: Site) -> None:
    for address, server in _servers(edge_site):
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (CAP + 100) + b"\r\n\r\n"
        raw = await _exchange(address, big)
        _assert_refused(raw, 431, "request_header_fields_too_large", server)
        # A header that never ends: refused once past the cap, long before 50 MB are sent.
        endless = [b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "] + [b"a" * 65536] * 800
        if server == "granian":
            # hyper closes at once with the client's bytes unread, and the reset that follows
            # may overtake its 431: the client sees one or the other, never a long upload.
            try:
                raw = await _exchange(address, *endless)
            except ConnectionError:
                continue
        else:
            raw = await _exchange(address, *endless)
        _assert_refused(raw, 431, "request_header_fields_too_large", server)


async def test_headers_under_the_cap_and_large_bodies_pass(edge_site: Site) -> None:
    admin, web = _addresses(edge_site)
    fine = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"a" * 3000
        + b"\r\nConnection: close\r\n\r\n"
    )
    assert _parse(await _exchange(web, fine))[0] == 200
    # A body sent with its headers in one write is no header bytes.
    body = orjson.dumps(
        {"name": "big", "html_content": "x" * 60_000, "config": {"pad": "y" * 60_000}}
    )
    request = (
        b"POST /api/v1/templates HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + b"X-API-Key: "
        + edge_site.admin.client.headers["x-api-key"].encode()
        + b"\r\n"
        + b"Connection: close\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    assert _parse(await _exchange(admin, request))[0] == 201


async def test_slow_headers_are_408_and_the_connection_closed(edge_site: Site) -> None:
    for address, server in _servers(edge_site):
        started = asyncio.get_running_loop().time()
        raw = await _exchange(address, b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n")
        _assert_refused(raw, 408, "request_timeout", server)
        assert asyncio.get_running_loop().time() - started < 3
        # Trickling a byte at a time does not extend the deadline.
        started = asyncio.get_running_loop().time()
        trickle = [bytes([byte]) for byte in b"GET /healthz HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaa"]
        raw = await _exchange(address, *trickle, pause=0.05)
        _assert_refused(raw, 408, "request_timeout", server)
        assert asyncio.get_running_loop().time() - started < 2


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, id="tls"),
        pytest.param(b"HELLO THERE\r\n\r\n", id="not-http"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", id="bad-header"),
    ],
)
async def test_requests_that_are_not_http_get_the_envelope(edge_site: Site, garbage: bytes) -> None:
    for address, server in _servers(edge_site):
        _assert_refused(await _exchange(address, garbage), 400, "bad_request", server)


async def test_every_json_response_is_nosniff(edge_site: Site) -> None:
    site = edge_site
    responses = [
        await site.web.get("/api/v1/data/dashboard/9"),
        await site.web.get("/api/v1/data/dashboard/x"),
        await site.web.get("/healthz"),
        await site.web.get("/nothing-here"),
        await site.admin.client.get("/api/v1/templates"),
        await site.admin.client.get("/api/v1/templates/9"),
        await site.admin.client.post("/api/v1/templates", json={"name": 3}),
        await site.admin.client.get("/nothing"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff", response.url


async def test_long_path_parameters_are_414(site: Site) -> None:
    await site.publish_page("/sales/{region}", "<p>{{ params.region }}</p>")
    assert (await site.page("/sales/" + "e" * 200)).status_code == 200
    response = await site.page("/sales/" + "e" * 201)
    assert response.status_code == 414
    assert "200 characters" in response.text
