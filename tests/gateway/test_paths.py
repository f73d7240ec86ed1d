"""Ids and paths the gateway reads from URLs: one spelling per resource, nothing else."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import update

from dyndash_common.db import Widget
from tests.gateway.conftest import Site


async def test_widget_ids_are_ascii_digits_only(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("public", is_public=True)
    widget = (
        await site.admin.client.post(
            f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w"}
        )
    ).json()["data"]
    assert widget["id"] == 1
    await site.eventually("/fragments/widgets/1", lambda r: r.status_code == 200)
    # U+00B9 passes str.isdigit but not int(); U+0661 (Arabic-Indic one) is int() == 1.
    for tail in ("%C2%B9", "%D9%A1", "%EF%BC%91", "1" * 11, "-1", "+1", "1_0", "%201"):
        response = await site.page(f"/fragments/widgets/{tail}")
        assert response.status_code == 404, (tail, response.status_code)


async def test_dashboard_ids_in_api_paths_are_ascii_digits_only(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("public", is_public=True)
    assert dashboard["id"] == 1
    path = "/api/v1/data/dashboard/"
    await site.eventually(path + "1", lambda r: r.status_code == 200)
    for tail in ("+1", "%201", "0_1", "%D9%A1", "1" * 30):
        response = await site.web.get(path + tail)
        assert response.status_code == 422, (tail, response.text)
        assert response.json()["data"]["details"][0]["field"] == "path.dashboard_id"


async def test_paths_that_only_begin_like_a_reserved_one_are_routes(site: Site) -> None:
    await site.publish_page("/healthzfoo", "<p>health food</p>", name="food")
    await site.publish_page("/docs-x", "<p>docs x</p>", name="docsx")
    food = await site.page("/healthzfoo")
    assert (food.status_code, food.text) == (200, "<p>health food</p>")
    assert (await site.page("/docs-x")).text == "<p>docs x</p>"
    assert (await site.page("/healthz")).json() == {"status": "ok"}
    assert (await site.page("/metricsfoo")).status_code == 404


async def test_render_metrics_label_unknown_template_names_as_unknown(site: Site) -> None:
    dashboard = await site.admin.create_dashboard("public", is_public=True)
    await site.admin.create_template("card", "<b>{{ widget.key }}</b>")
    await site.admin.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={"key": "w", "config": {"template": "card"}},
    )
    await site.eventually("/fragments/widgets/1", lambda r: r.status_code == 200)
    # A widget written before config.template was checked may still name a missing template.
    async with site.gateway.runtime.database.write() as session:
        await session.execute(
            update(Widget).values(config={"template": "ghost-name"}, version=Widget.version + 1)
        )
    await site.gateway.follower.load()
    # The render fails; the last good fragment is served meanwhile.
    assert (await site.page("/fragments/widgets/1")).headers["x-cache"] == "STALE"
    assert (
        REGISTRY.get_sample_value(
            "dyndash_renders_total", {"template": "ghost-name", "outcome": "failed"}
        )
        is None
    )
    assert REGISTRY.get_sample_value(
        "dyndash_renders_total", {"template": "_unknown", "outcome": "failed"}
    )
