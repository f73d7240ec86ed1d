"""Ids and paths the gateway reads from URLs: one spelling per resource, nothing else."""

from __future__ import annotations

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
