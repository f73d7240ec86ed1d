"""Prometheus metrics shared by the services; each process exposes its own at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RENDERS = Counter(
    "dyndash_renders_total",
    "Template renders, by template name and outcome",
    ["template", "outcome"],
)
RENDER_SECONDS = Histogram(
    "dyndash_render_seconds",
    "Template render time, by template name",
    ["template"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
CACHE_RESULTS = Counter(
    "dyndash_cache_requests_total", "Cache lookups by the layer that answered", ["layer"]
)
EVENTS_APPLIED = Counter("dyndash_events_consumed_total", "Change events applied by this process")
EVENT_LAG_SECONDS = Histogram(
    "dyndash_event_lag_seconds",
    "Commit of a change to its application in this process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0),
)
