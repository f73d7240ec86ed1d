"""The render worker's own metrics: its jobs and the shared queue."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RENDER_JOBS_QUEUED = Gauge(
    "dyndash_render_jobs_queued",
    "Render jobs due in the shared queue (waiting or running; deferred retries excluded)",
)
RENDER_WORKERS = Gauge("dyndash_render_workers", "Render workers that reported recently")
RENDER_JOBS_RUNNING = Gauge("dyndash_render_jobs_running", "Render jobs running in this worker")
RENDER_JOBS = Counter(
    "dyndash_render_jobs_total",
    "Render jobs ended in this worker, by outcome (complete, failed, retried, cancelled)",
    ["outcome"],
)
RENDER_JOB_SECONDS = Histogram(
    "dyndash_render_job_seconds",
    "Duration of a render job in this worker",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
