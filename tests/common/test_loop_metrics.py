"""The hot path's lock-free metrics export what prometheus_client's own would."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dyndash_common.loop_metrics import LoopCounter, LoopHistogram

BUCKETS = (0.001, 0.01, 0.1)


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def test_loop_metrics_match_prometheus_client_sample_for_sample() -> None:
    ours, reference = CollectorRegistry(), CollectorRegistry()
    counter = LoopCounter("hits", "hits", ["kind"], registry=ours)
    histogram = LoopHistogram("took_seconds", "took", ["kind"], BUCKETS, registry=ours)
    expected_counter = Counter("hits", "hits", ["kind"], registry=reference)
    expected_histogram = Histogram(
        "took_seconds", "took", ["kind"], buckets=BUCKETS, registry=reference
    )
    # Values on, between and past the bounds: `le` is inclusive, the last bucket is +Inf.
    for kind, value in [("page", 0.0005), ("page", 0.001), ("page", 0.05), ("asset", 3.0)]:
        counter.labels(kind).inc()
        expected_counter.labels(kind).inc()
        histogram.labels(kind).observe(value)
        expected_histogram.labels(kind).observe(value)
    assert _samples(ours) == _samples(reference)
    assert _samples(ours)[("took_seconds_bucket", (("kind", "page"), ("le", "0.001")))] == 2
