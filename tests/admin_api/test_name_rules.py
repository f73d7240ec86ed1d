"""Names that become file paths in a site export (README, "Sites as code"): the admin API
refuses, at write time, names no file system can hold (422) and names that differ from an
existing one only in case (409), for templates and dashboards, on create and on rename."""

from __future__ import annotations

import pytest

from tests.conftest import Api
from tests.utils.backends import snapshot

UNFILEABLE_TEMPLATES = [
    ("x/../y", "start with a letter or digit"),
    ("x/.hidden", "start with a letter or digit"),
    ("a//b", "empty"),
    ("a/", "empty"),
    ("ui-xss.html/b", "'ui-xss.html'"),
    ("pages/a.YAML/b", "'a.YAML'"),
    ("con", "Windows reserves"),
    ("a/NUL.txt", "Windows reserves"),
    ("lpt1.page", "Windows reserves"),
    ("dot./x", "end in '.'"),
    ("x.", "end in '.'"),
]


@pytest.mark.parametrize(("name", "fragment"), UNFILEABLE_TEMPLATES)
async def test_template_names_files_cannot_hold_are_refused(
    api: Api, name: str, fragment: str
) -> None:
    existing = await api.create_template("ui-xss")
    before = await snapshot(api.backend.settings)
    created = await api.client.post("/api/v1/templates", json={"name": name})
    assert created.status_code == 422, created.text
    assert fragment in created.json()["message"], created.text
    renamed = await api.client.put(f"/api/v1/templates/{existing['id']}", json={"name": name})
    assert renamed.status_code == 422, renamed.text
    assert fragment in renamed.json()["message"], renamed.text
    bundle = {"templates": [{"name": name, "html_content": ""}]}
    applied = await api.client.post("/api/v1/site/apply", json={"bundle": bundle})
    assert applied.status_code == 422, applied.text
    assert await snapshot(api.backend.settings) == before


async def test_names_files_can_hold_are_kept(api: Api) -> None:
    for name in ("partials/header", "x.html", "a.b/c", "demo-page", "console", "com10", "a_b"):
        await api.create_template(name)
    for name in ("main", "sales.2024", "nully"):
        await api.create_dashboard(name)


@pytest.mark.parametrize("name", ["con", "COM1", "Aux.board", "end."])
async def test_dashboard_names_files_cannot_hold_are_refused(api: Api, name: str) -> None:
    existing = await api.create_dashboard("board")
    before = await snapshot(api.backend.settings)
    created = await api.client.post("/api/v1/dashboards", json={"name": name})
    assert created.status_code == 422, created.text
    assert "name" in created.json()["message"], created.text
    renamed = await api.client.put(f"/api/v1/dashboards/{existing['id']}", json={"name": name})
    assert renamed.status_code == 422, renamed.text
    assert await snapshot(api.backend.settings) == before


async def test_template_names_differing_only_in_case_conflict(api: Api) -> None:
    report = await api.create_template("Report")
    other = await api.create_template("partials/Header")
    before = await snapshot(api.backend.settings)
    created = await api.client.post("/api/v1/templates", json={"name": "report"})
    assert created.status_code == 409, created.text
    message = created.json()["message"]
    assert "'Report'" in message
    assert "only in case" in message
    renamed = await api.client.put(f"/api/v1/templates/{other['id']}", json={"name": "REPORT"})
    assert renamed.status_code == 409, renamed.text
    assert "'Report'" in renamed.json()["message"]
    nested = await api.client.post("/api/v1/templates", json={"name": "PARTIALS/header"})
    assert nested.status_code == 409, nested.text
    assert await snapshot(api.backend.settings) == before
    # A template may change the case of its own name.
    own = await api.client.put(f"/api/v1/templates/{report['id']}", json={"name": "report"})
    assert own.status_code == 200, own.text
    assert own.json()["data"]["name"] == "report"


async def test_dashboard_names_differing_only_in_case_conflict(api: Api) -> None:
    sales = await api.create_dashboard("Sales")
    other = await api.create_dashboard("orders")
    before = await snapshot(api.backend.settings)
    created = await api.client.post("/api/v1/dashboards", json={"name": "sales"})
    assert created.status_code == 409, created.text
    assert "'Sales'" in created.json()["message"]
    assert "only in case" in created.json()["message"]
    renamed = await api.client.put(f"/api/v1/dashboards/{other['id']}", json={"name": "SALES"})
    assert renamed.status_code == 409, renamed.text
    assert await snapshot(api.backend.settings) == before
    own = await api.client.put(f"/api/v1/dashboards/{sales['id']}", json={"name": "sales"})
    assert own.status_code == 200, own.text


async def test_a_site_apply_may_not_add_a_name_differing_only_in_case(api: Api) -> None:
    await api.create_template("Report")
    await api.create_dashboard("Sales")
    before = await snapshot(api.backend.settings)
    for bundle in (
        {"templates": [{"name": "report", "html_content": ""}]},
        {"dashboards": [{"name": "sales"}]},
    ):
        applied = await api.client.post("/api/v1/site/apply", json={"bundle": bundle})
        assert applied.status_code == 409, applied.text
        assert "only in case" in applied.json()["message"], applied.text
    twins = {"templates": [{"name": n, "html_content": ""} for n in ("Page", "page")]}
    applied = await api.client.post("/api/v1/site/apply", json={"bundle": twins})
    assert applied.status_code == 422, applied.text
    assert "'Page' and 'page'" in applied.json()["message"], applied.text
    assert await snapshot(api.backend.settings) == before
    # With prune the old name goes as the new one comes: a rename, which is allowed.
    renamed = {"templates": [{"name": "report", "html_content": ""}], "dashboards": []}
    applied = await api.client.post(
        "/api/v1/site/apply", params={"prune": "true"}, json={"bundle": renamed}
    )
    assert applied.status_code == 200, applied.text
    names = [t["name"] for t in (await api.client.get("/api/v1/templates")).json()["data"]["items"]]
    assert names == ["report"]
