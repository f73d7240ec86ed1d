"""A cached response: its bytes in every encoding served, produced once per render."""

from __future__ import annotations

import gzip
import hashlib
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import brotli
import orjson

# A route's Content-Security-Policy additions, by directive (RouteInfo.csp's shape).
CspAdditions = tuple[tuple[str, tuple[str, ...]], ...]

# A format mark, so an entry written by an older release (no brotli body; a finished policy in
# place of its inputs) reads as a miss during a rolling deploy instead of being misread.
_MAGIC = b"DDE3"
_HEADER = struct.Struct("!4sIIII")
# Quality 9 of 11 with a window no larger than the body: about 0.2 ms for an 11 KB page, paid
# once per render in the process that renders, for a body about 0.8 of gzip's. 10 and 11 are
# 0.68 and 0.6 of gzip but 20 to 60 times slower, which a miss would wait for.
PAGE_QUALITY = 9
# Built once per bundle and cached for a year: worth the slowest, smallest setting.
BUNDLE_QUALITY = 11


def _window(body: bytes) -> int:
    """The smallest brotli window (in bits, 10 to 24) that holds the body: a larger one only
    costs time to set up (four times as long for an 11 KB page at quality 9)."""
    return max(10, min(24, (len(body) + 16).bit_length()))


class StaleFormat(ValueError):
    """The bytes are not an entry of this format."""


@dataclass(frozen=True)
class CachedEntry:
    """A built response: its bodies, content type, ETag and TTL, encoded the same way for L1,
    L2 and the wire."""

    body: bytes
    gzipped: bytes
    brotli: bytes
    etag: str
    content_type: str
    created: float
    ttl: int
    status: int = 200
    # A page's policy inputs, not the policy: each gateway finishes it with its own
    # DYNDASH_CSP when it sends the entry (README, "CSP and embedding"), so gateways and
    # renderers configured differently never send each other's policies. No nonce: no policy.
    nonce: str = ""
    route_csp: CspAdditions = ()
    # Where it came from: lets the gateway log and count what it serves.
    origin: str = field(default="", compare=False)

    @classmethod
    def build(
        cls,
        body: bytes,
        content_type: str,
        ttl: int,
        *,
        status: int = 200,
        nonce: str = "",
        route_csp: CspAdditions = (),
        brotli_quality: int = PAGE_QUALITY,
    ) -> CachedEntry:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            brotli=brotli.compress(body, quality=brotli_quality, lgwin=_window(body)),
            etag=f'"{digest}"',
            content_type=content_type,
            created=time.time(),
            ttl=ttl,
            status=status,
            nonce=nonce,
            route_csp=route_csp,
        )

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped) + len(self.brotli) + 256

    def fresh(self, now: float) -> bool:
        return now - self.created < self.ttl

    def encode(self) -> bytes:
        meta = orjson.dumps(
            {
                "etag": self.etag,
                "content_type": self.content_type,
                "created": self.created,
                "ttl": self.ttl,
                "status": self.status,
                "nonce": self.nonce,
                "route_csp": self.route_csp,
            }
        )
        lengths = (len(meta), len(self.body), len(self.gzipped), len(self.brotli))
        return b"".join(
            (
                _HEADER.pack(_MAGIC, *lengths),
                meta,
                self.body,
                self.gzipped,
                self.brotli,
            )
        )

    @classmethod
    def decode(cls, raw: bytes) -> CachedEntry:
        if len(raw) < _HEADER.size or not raw.startswith(_MAGIC):
            raise StaleFormat("not a cached entry of this format")
        _, meta_length, body_length, gzip_length, brotli_length = _HEADER.unpack_from(raw)
        start = _HEADER.size
        meta: dict[str, Any] = orjson.loads(raw[start : start + meta_length])
        meta["route_csp"] = tuple(
            (directive, tuple(origins)) for directive, origins in meta["route_csp"]
        )
        start += meta_length
        body = raw[start : start + body_length]
        start += body_length
        gzipped = raw[start : start + gzip_length]
        start += gzip_length
        compressed = raw[start : start + brotli_length]
        return cls(body=body, gzipped=gzipped, brotli=compressed, origin="l2", **meta)
