"""URL paths the gateway keeps for itself, matched by their first segment.

The admin API refuses routes under these; the gateway hands them to its framework app or its
hot-path handlers. Both compare whole segments, so `/healthzfoo` is an ordinary route path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Served by the gateway's FastAPI app: data API, live streams, health, API docs.
FRAMEWORK_SEGMENTS = frozenset({"api", "live", "healthz", "readyz", "docs", "openapi.json"})
# Served by the gateway's hot path next to route pages. `metrics` is served by no public
# listener (it is on the operator port) but stays reserved: no page may take the path that
# scrapers and proxy rules know as metrics.
RESERVED_SEGMENTS = FRAMEWORK_SEGMENTS | {"fragments", "assets", "metrics"}


def first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end == -1 else path[1:end]


def sent_path(scope: Mapping[str, Any]) -> str:
    """The path as the client sent it, percent-encoding kept.

    Which app serves a request is decided on this, not on the decoded `path`: a proxy rule
    that blocks `/docs` compares the literal path, so `/%64ocs` must not reach what `/docs`
    would. Servers such as uvicorn always set `raw_path`; some ASGI clients include the query.
    """
    raw: bytes | None = scope.get("raw_path")
    if raw is None:
        return str(scope["path"])
    return raw.partition(b"?")[0].decode("latin-1")
