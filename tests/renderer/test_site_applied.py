"""The renderer warms a site apply (one `site.applied` event) as the union of its parts, split
by route across jobs like any big change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from arq.jobs import Job
from arq.worker import Worker

from tests.gateway.conftest import Site
from tests.renderer.conftest import until, warmed


def _site(marker: str) -> dict[str, Any]:
    return {
        "templates": [
            {"name": "partial", "html_content": f"<i>{marker}</i>"},
            {"name": "page", "html_content": '{{ n }}{% include "partial" %}'},
        ],
        "routes": [
            {"path": f"/s{n}", "template": "page", "handler_config": {"context": {"n": n}}}
            for n in range(8)
        ],
        "dashboards": [
            {
                "name": "board",
                "is_public": True,
                "widgets": [{"key": "w", "data": {"v": marker}}],
            }
        ],
    }


def partial_is(site: Site, marker: str) -> Callable[[], bool]:
    return lambda: site.gateway.state.catalog.by_name["partial"].html == f"<i>{marker}</i>"


async def test_a_site_apply_is_warmed_into_l2(rendered_site: tuple[Site, Worker]) -> None:
    site, worker = rendered_site
    for marker in ("a", "b"):
        response = await site.admin.client.post(
            "/api/v1/site/apply", json={"bundle": _site(marker)}
        )
        assert response.status_code == 200, response.text
        event_id = response.json()["data"]["event_id"]
        report = await warmed(worker, "site.applied", 0, event_id)
        assert report["failed"] == []
        prefix = site.admin.backend.settings.redis_prefix
        for start in (0, 5):
            job = f"{prefix}:warm:site.applied:0:{event_id}:part:{start}"
            part = Job(job, worker.pool, _queue_name=worker.queue_name, _deserializer=orjson.loads)
            assert (await part.result(timeout=15))["failed"] == []
        await until(partial_is(site, marker))
        for n in range(8):
            page = await site.page(f"/s{n}")
            assert (page.headers["x-cache"], page.text) == ("HIT-L2", f"{n}<i>{marker}</i>")
        data = await site.page("/api/v1/data/dashboard/1")
        assert data.headers["x-cache"] == "HIT-L2"
        assert data.json()["data"]["widgets"][0]["data"] == {"v": marker}
