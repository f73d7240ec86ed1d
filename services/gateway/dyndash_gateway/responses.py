"""Raw ASGI responses for the hot path: cached entries, 304s and small error pages."""

from __future__ import annotations

import logging
from html import escape

from starlette.responses import Response
from starlette.types import Send

from dyndash_common.cache import CachedEntry
from dyndash_common.csp import (
    CspError,
    CspExtras,
    allows_framing,
    check_csp,
    content_security_policy,
)
from dyndash_common.web import NOSNIFF

# X-Frame-Options cannot list origins: a page whose policy allows framing by some (README,
# "CSP and embedding") is sent without it, so the two never contradict each other.
EMBEDDABLE_HEADERS: list[tuple[bytes, bytes]] = [
    NOSNIFF,
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    *EMBEDDABLE_HEADERS,
    (b"x-frame-options", b"DENY"),
]
VARY = (b"vary", b"Accept-Encoding")
log = logging.getLogger("dyndash.gateway")
# Entries in L1 and the stale window at once, about: past it, the finished policies are built
# again as their entries are sent.
MAX_REMEMBERED_POLICIES = 4096
Header = tuple[bytes, bytes]


class PagePolicies:
    """This gateway's Content-Security-Policy for each page or fragment it sends: the entry's
    nonce and route additions with this process's DYNDASH_CSP (README, "CSP and embedding").
    Built when an entry is first sent here and looked up by its nonce (one per render) after
    that, so a gateway never sends a policy another gateway or renderer put in the cache."""

    def __init__(self, site_csp: CspExtras) -> None:
        self.site_csp = site_csp
        self._finished: dict[str, tuple[list[Header], Header]] = {}

    def headers_for(self, entry: CachedEntry) -> tuple[list[Header], Header]:
        """The framing headers and the policy header for `entry`, which has a nonce."""
        finished = self._finished.get(entry.nonce)
        if finished is None:
            if len(self._finished) >= MAX_REMEMBERED_POLICIES:
                self._finished.clear()
            policy = content_security_policy(entry.nonce, self.site_csp, _route_additions(entry))
            framing = EMBEDDABLE_HEADERS if allows_framing(policy) else SECURITY_HEADERS
            finished = (framing, (b"content-security-policy", policy.encode()))
            self._finished[entry.nonce] = finished
        return finished


# When q-values tie, the smaller body wins.
PREFERENCE = ("br", "gzip", "identity")
CONTENT_ENCODING = {"br": b"br", "gzip": b"gzip"}
TAG_SUFFIX = {"identity": "", "gzip": "-gz", "br": "-br"}
# Browsers send a handful of distinct Accept-Encoding values: each is parsed once.
MAX_REMEMBERED_HEADERS = 256
UNLISTED_IDENTITY = 0.001
_chosen: dict[bytes, str] = {}


def choose_encoding(accept_encoding: bytes) -> str:
    """br, gzip or identity, by the header's q-values (RFC 9110 12.5.3)."""
    if not accept_encoding:
        return "identity"
    chosen = _chosen.get(accept_encoding)
    if chosen is None:
        if len(_chosen) >= MAX_REMEMBERED_HEADERS:
            _chosen.clear()
        chosen = _chosen[accept_encoding] = _parse(accept_encoding)
    return chosen


def _parse(accept_encoding: bytes) -> str:
    weights: dict[str, float] = {}
    for part in accept_encoding.decode("latin-1").lower().split(","):
        coding, *parameters = (piece.strip() for piece in part.split(";"))
        weight = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
                # NaN and out-of-range values are not q-values: nothing is accepted by them.
                weight = weight if 0.0 <= weight <= 1.0 else 0.0
        if coding:
            weights.setdefault(coding, weight)
    anything = weights.get("*")

    def weight_of(coding: str) -> float:
        if coding in weights:
            return weights[coding]
        if anything is not None:
            return anything
        # Unlisted identity is acceptable (RFC 9110) but not preferred over a listed coding.
        return UNLISTED_IDENTITY if coding == "identity" else 0.0

    best = max(PREFERENCE, key=lambda coding: (weight_of(coding), -PREFERENCE.index(coding)))
    # A client refusing every coding we have still gets the plain body: a 406 helps nobody.
    return best if weight_of(best) > 0 else "identity"


def etag_of(entry: CachedEntry, encoding: str) -> bytes:
    """Each encoding is its own representation, with its own strong validator."""
    suffix = TAG_SUFFIX[encoding]
    return (entry.etag[:-1] + suffix + '"' if suffix else entry.etag).encode()


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == b"*":
        return True
    return any(
        candidate.strip().removeprefix(b"W/") == etag for candidate in if_none_match.split(b",")
    )


def entry_response(
    entry: CachedEntry,
    *,
    cache: bytes,
    cache_control: bytes,
    accept_encoding: bytes,
    if_none_match: bytes,
    policies: PagePolicies | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a cached entry for one request: the one response of the
    raw front and the data route alike. The header list is new each time (callers append).
    An entry with a nonce (a page or fragment) takes its policy from `policies`."""
    encoding = choose_encoding(accept_encoding)
    etag = etag_of(entry, encoding)
    headers = [
        (b"etag", etag),
        (b"cache-control", cache_control),
        VARY,
        (b"x-cache", cache),
    ]
    if entry.nonce:
        if policies is None:
            raise ValueError("a page or fragment is sent with the gateway's policies")
        framing, policy = policies.headers_for(entry)
        headers.extend(framing)
        headers.append(policy)
    else:
        headers.extend(SECURITY_HEADERS)
    if etag_matches(if_none_match, etag):
        return 304, headers, b""
    if encoding == "br":
        body = entry.brotli
    elif encoding == "gzip":
        body = entry.gzipped
    else:
        body = entry.body
    headers.append((b"content-type", entry.content_type.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    if encoding in CONTENT_ENCODING:
        headers.append((b"content-encoding", CONTENT_ENCODING[encoding]))
    return (entry.status, headers, body)


def _route_additions(entry: CachedEntry) -> CspExtras:
    """The route's additions, checked again: a route stored before a check was tightened (an
    origin ending in a newline) must not make every response carrying it fail. Such a route's
    additions are left out, which only makes its policy stricter."""
    try:
        return check_csp({directive: list(origins) for directive, origins in entry.route_csp})
    except CspError as error:
        log.warning("route_csp_refused", extra={"details": {"error": str(error)}})
        return {}


async def send_entry(
    send: Send,
    entry: CachedEntry,
    *,
    cache: bytes,
    cache_control: bytes,
    accept_encoding: bytes,
    if_none_match: bytes,
    head: bool,
    policies: PagePolicies | None = None,
) -> None:
    status, headers, body = entry_response(
        entry,
        cache=cache,
        cache_control=cache_control,
        accept_encoding=accept_encoding,
        if_none_match=if_none_match,
        policies=policies,
    )
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


class EntryResponse(Response):
    """The same response through the framework (the data route), whose RequestIdMiddleware
    adds `nosniff` to every response itself."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status_code = status
        self.body = body
        self.background = None
        self.raw_headers = [header for header in headers if header != NOSNIFF]


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
