"""Raw ASGI responses for the hot path: cached entries, 304s and small error pages."""

from __future__ import annotations

from html import escape

from starlette.types import Send

from dyndash_common.cache import CachedEntry

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
]
VARY = (b"vary", b"Accept-Encoding")


def wants_gzip(accept_encoding: bytes) -> bool:
    if b"gzip" not in accept_encoding:
        return False
    for part in accept_encoding.split(b","):
        coding, _, parameters = part.strip().partition(b";")
        if coding.strip() in (b"gzip", b"*"):
            return parameters.replace(b" ", b"") not in (b"q=0", b"q=0.0", b"q=0.00", b"q=0.000")
    return False


def etag_matches(if_none_match: bytes, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == b"*":
        return True
    tag = etag.encode()
    gzip_tag = tag[:-1] + b'-gz"'
    for candidate in if_none_match.split(b","):
        value = candidate.strip().removeprefix(b"W/")
        if value in (tag, gzip_tag):
            return True
    return False


async def send_entry(
    send: Send,
    entry: CachedEntry,
    *,
    cache: str,
    cache_control: bytes,
    gzip: bool,
    if_none_match: bytes,
    head: bool,
) -> None:
    etag = entry.etag if not gzip else entry.etag[:-1] + '-gz"'
    headers = [
        (b"etag", etag.encode()),
        (b"cache-control", cache_control),
        VARY,
        (b"x-cache", cache.encode()),
        *SECURITY_HEADERS,
    ]
    if entry.csp:
        headers.append((b"content-security-policy", entry.csp.encode()))
    if etag_matches(if_none_match, entry.etag):
        await send({"type": "http.response.start", "status": 304, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return
    body = entry.gzipped if gzip else entry.body
    headers.append((b"content-type", entry.content_type.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    if gzip:
        headers.append((b"content-encoding", b"gzip"))
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def send_page(
    send: Send,
    status: int,
    title: str,
    message: str,
    *,
    head: bool = False,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{status} {escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>"
    ).encode()
    all_headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
        *SECURITY_HEADERS,
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
