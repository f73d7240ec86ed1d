"""Each service's /metrics (on its operator port): its own traffic, cache layers, gauges read
at scrape time, and output that `promtool check metrics` accepts."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from devtools.cluster import free_port
from dyndash_common.db import Database, create_engine
from dyndash_common.metrics import L1_BYTES, L1_ENTRIES, REDIS_USED_MEMORY
from dyndash_common.web import scrape
from dyndash_gateway.front import GatewayFront
from dyndash_renderer.metrics import RENDER_JOBS_QUEUED, RENDER_WORKERS
from tests.gateway.conftest import Site, start_site
from tests.operations.promtool import promtool_check
from tests.renderer.conftest import running_worker, until
from tests.utils.backends import Backend


def samples(exposition: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(exposition: str, name: str, **labels: str) -> float:
    return samples(exposition).get((name, frozenset(labels.items())), 0.0)


async def test_gateway_metrics_count_its_pages_cache_layers_and_memory(
    metered_site: Site, backend: Backend
) -> None:
    site = metered_site
    await site.publish_page("/counted", "<p>counted</p>")
    # Gauges are process-wide: zero those this scrape must set, so an earlier one can't pass.
    for gauge in (L1_BYTES, L1_ENTRIES, REDIS_USED_MEMORY):
        gauge.set(0)
    before = (await site.web.get(site.web_metrics)).text
    first = await site.page("/counted")
    second = await site.page("/counted")
    missing = await site.page("/nowhere")
    assert (first.status_code, second.status_code, missing.status_code) == (200, 200, 404)
    assert second.headers["x-cache"] == "HIT-L1"
    assert len(second.headers["x-request-id"]) == 16
    response = await site.web.get(site.web_metrics)
    after = response.text
    assert response.headers["content-type"].startswith("text/plain")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("dyndash_page_requests_total", kind="page", status="2xx") == 2
    assert grew("dyndash_page_requests_total", kind="page", status="4xx") == 1
    assert grew("dyndash_page_request_duration_seconds_count", kind="page") == 3
    assert grew("dyndash_cache_requests_total", layer="HIT-L1") >= 1
    assert value(after, "dyndash_l1_cache_bytes") > 0
    assert value(after, "dyndash_l1_cache_entries") >= 1
    assert value(after, "process_resident_memory_bytes") > 0
    if backend.name == "postgres":
        assert value(after, "dyndash_redis_used_memory_bytes") > 0
    # The JSON API goes through FastAPI and its instrumentator.
    await site.web.get("/api/v1/data/dashboard/999999")
    api = (await site.web.get(site.web_metrics)).text
    assert (
        value(
            api,
            "http_requests_total",
            handler="/api/v1/data/dashboard/{dashboard_id}",
            method="GET",
            status="4xx",
        )
        >= 1
    )
    promtool_check(api.encode())


async def test_admin_metrics_count_api_requests_and_published_events(metered_site: Site) -> None:
    site = metered_site
    before = (await site.admin.client.get(site.admin_metrics)).text
    await site.admin.create_template("measured", "<p>m</p>")
    bad = await site.admin.client.post("/api/v1/templates", json={"name": ""})
    assert bad.status_code == 422
    after = (await site.admin.client.get(site.admin_metrics)).text

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        grew("http_requests_total", handler="/api/v1/templates", method="POST", status="2xx") == 1
    )
    assert (
        grew("http_requests_total", handler="/api/v1/templates", method="POST", status="4xx") == 1
    )
    assert (
        grew("http_request_duration_seconds_count", handler="/api/v1/templates", method="POST") == 2
    )
    assert grew("dyndash_events_published_total") >= 1
    promtool_check(after.encode())


async def test_pool_gauge_counts_connections_in_use(backend: Backend) -> None:
    # Its own engine: the services' background tasks borrow connections at any moment.
    database = Database(create_engine(backend.settings.database_url))
    try:
        idle = (await scrape(database, None)).decode()
        async with database.read() as session:
            await session.execute(text("SELECT 1"))  # holds a pooled connection for the block
            busy = (await scrape(database, None)).decode()
    finally:
        await database.dispose()
    assert value(idle, "dyndash_db_pool_connections_in_use") == 0
    assert value(busy, "dyndash_db_pool_connections_in_use") == 1


async def test_request_ids_are_echoed_when_plain_and_replaced_when_not(site: Site) -> None:
    await site.publish_page("/traced", "<p>traced</p>")
    for path in ("/traced", "/api/v1/data/dashboard/999999"):
        plain = await site.web.get(path, headers={"X-Request-ID": "req-42.a:b_c"})
        assert plain.headers["x-request-id"] == "req-42.a:b_c"
        for unsafe in ("has space", "x" * 129, "new\tline", ""):
            replaced = await site.web.get(path, headers={"X-Request-ID": unsafe})
            assert replaced.headers["x-request-id"] != unsafe
            assert len(replaced.headers["x-request-id"]) == 16


async def test_an_unexpected_error_is_a_clean_500_page_counted_and_traced(
    metered_site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site = metered_site
    await site.publish_page("/broken", "<p>fine</p>")

    async def broken(*_args: object) -> None:
        raise RuntimeError("a bug, not a template error")

    monkeypatch.setattr(GatewayFront, "_page", broken)
    before = (await site.web.get(site.web_metrics)).text
    response = await site.page("/broken", headers={"X-Request-ID": "bug-1"})
    after = (await site.web.get(site.web_metrics)).text
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-1"
    assert "a bug" not in response.text  # no internals in the page
    assert (
        value(after, "dyndash_page_requests_total", kind="page", status="5xx")
        == value(before, "dyndash_page_requests_total", kind="page", status="5xx") + 1
    )
    (record,) = [r for r in caplog.records if r.getMessage() == "page_request_failed"]
    assert record.exc_info is not None
    monkeypatch.undo()  # the gateway itself kept serving:
    assert (await site.page("/broken")).status_code == 200


async def test_renderer_serves_job_metrics_on_its_own_port(real_servers: Backend) -> None:
    port = free_port()
    settings = real_servers.settings.model_copy(update={"renderer_metrics_port": port})
    RENDER_JOBS_QUEUED.set(-1)
    RENDER_WORKERS.set(0)
    url = f"http://127.0.0.1:{port}/metrics"
    async for site in start_site(real_servers):
        async with running_worker(settings), httpx.AsyncClient() as client:

            async def serving() -> bool:
                try:
                    return (await client.get(url)).status_code == 200
                except httpx.TransportError:
                    return False  # the worker's start-up has not opened the port yet

            await until(serving)
            before = (await client.get(url)).text
            # Set by the worker's queue reporter (it runs once at start-up).
            assert value(before, "dyndash_render_jobs_queued") >= 0
            assert value(before, "dyndash_render_workers") >= 1
            completed = value(before, "dyndash_render_jobs_total", outcome="complete")
            await site.publish_page("/jobbed", "<p>v1</p>", name="jobbed")

            async def job_done() -> bool:
                scraped = (await client.get(url)).text
                # Rendered by the route's job, and no job of this change still running.
                return (
                    value(scraped, "dyndash_renders_total", template="jobbed", outcome="ok") >= 1
                    and value(scraped, "dyndash_render_jobs_running") == 0
                )

            await until(job_done)
            after = (await client.get(url)).text
    assert value(after, "dyndash_render_job_seconds_count") > value(
        before, "dyndash_render_job_seconds_count"
    )
    assert value(after, "dyndash_render_jobs_total", outcome="complete") > completed
    promtool_check(after.encode())
