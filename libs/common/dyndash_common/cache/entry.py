"""A cached response: its bytes in both encodings, produced once per render."""

from __future__ import annotations

import gzip
import hashlib
import struct
import time
from dataclasses import dataclass, field

import orjson

_HEADER = struct.Struct("!III")


@dataclass(frozen=True)
class CachedEntry:
    """A built response: its bodies, content type, ETag and TTL, encoded the same way for L1,
    L2 and the wire."""

    body: bytes
    gzipped: bytes
    etag: str
    content_type: str
    created: float
    ttl: int
    status: int = 200
    csp: str = ""
    # Where it came from: lets the gateway log and count what it serves.
    origin: str = field(default="", compare=False)

    @classmethod
    def build(
        cls, body: bytes, content_type: str, ttl: int, *, status: int = 200, csp: str = ""
    ) -> CachedEntry:
        digest = hashlib.blake2b(body, digest_size=12).hexdigest()
        return cls(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            etag=f'"{digest}"',
            content_type=content_type,
            created=time.time(),
            ttl=ttl,
            status=status,
            csp=csp,
        )

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped) + 256

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
                "csp": self.csp,
            }
        )
        return (
            _HEADER.pack(len(meta), len(self.body), len(self.gzipped))
            + meta
            + self.body
            + self.gzipped
        )

    @classmethod
    def decode(cls, raw: bytes) -> CachedEntry:
        meta_length, body_length, gzip_length = _HEADER.unpack_from(raw)
        start = _HEADER.size
        meta = orjson.loads(raw[start : start + meta_length])
        start += meta_length
        body = raw[start : start + body_length]
        gzipped = raw[start + body_length : start + body_length + gzip_length]
        return cls(body=body, gzipped=gzipped, origin="l2", **meta)
