"""The gateway's own metrics: its hot path and its cache layers.

The hot path is served outside FastAPI, so the HTTP instrumentator does not see it; these
are updated without locks (`dyndash_common.loop_metrics`).
"""

from __future__ import annotations

from dyndash_common.loop_metrics import LoopCounter, LoopHistogram

CACHE_RESULTS = LoopCounter(
    "dyndash_cache_requests", "Cache lookups by the layer that answered", ["layer"]
)
PAGE_REQUESTS = LoopCounter(
    "dyndash_page_requests",
    "Pages, fragments and assets answered by the gateway's hot path, by status class",
    ["kind", "status"],
)
PAGE_SECONDS = LoopHistogram(
    "dyndash_page_request_duration_seconds",
    "Time to answer a page, fragment or asset request",
    ["kind"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
