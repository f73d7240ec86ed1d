"""URL paths the gateway keeps for itself, matched by their first segment.

The admin API refuses routes under these; the gateway hands them to its framework app or its
hot-path handlers. Both compare whole segments, so `/healthzfoo` is an ordinary route path.
"""

from __future__ import annotations

# Served by the gateway's FastAPI app: data API, live streams, health, metrics, API docs.
FRAMEWORK_SEGMENTS = frozenset(
    {"api", "live", "healthz", "readyz", "metrics", "docs", "openapi.json"}
)
# Served by the gateway's hot path next to route pages.
RESERVED_SEGMENTS = FRAMEWORK_SEGMENTS | {"fragments", "assets"}


def first_segment(path: str) -> str:
    end = path.find("/", 1)
    return path[1:] if end == -1 else path[1:end]
