"""Prometheus metrics recorded by the shared library, in whichever service runs it; each
process exposes its own at /metrics. A service's own metrics live in its package."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RENDERS = Counter(
    "dyndash_renders_total",
    "Template renders, by template name and outcome (ok, failed, budget)",
    ["template", "outcome"],
)
RENDER_SECONDS = Histogram(
    "dyndash_render_seconds",
    "Template render time, by template name",
    ["template"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
EVENT_LOOP_LAG = Histogram(
    "dyndash_event_loop_lag_seconds",
    "How much later than asked the event loop ran a ticker's wake-up (sampled every 50 ms)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_APPLIED = Counter("dyndash_events_consumed_total", "Change events applied by this process")
EVENT_LAG_SECONDS = Histogram(
    "dyndash_event_lag_seconds",
    "Commit of a change to its application in this process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0),
)
EVENTS_PUBLISHED = Counter(
    "dyndash_events_published_total", "Change events this process published to the bus"
)

# Read at scrape time (see dyndash_common.web.instrumentation).
DB_POOL_IN_USE = Gauge(
    "dyndash_db_pool_connections_in_use", "Database connections checked out of the pool"
)
L1_BYTES = Gauge("dyndash_l1_cache_bytes", "Bytes held by this process's in-memory cache")
L1_ENTRIES = Gauge("dyndash_l1_cache_entries", "Entries held by this process's in-memory cache")
REDIS_USED_MEMORY = Gauge(
    "dyndash_redis_used_memory_bytes", "Redis used_memory as last read by this process"
)
