"""Every editor round-trips what the API holds: opening an object's editor and saving it
unchanged leaves the object exactly as it was (same fields, same version) and sends no write
(README, "The admin web UI")."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import Locator, Request, expect
from sqlalchemy import update

from dyndash.demo import seed_demo
from dyndash_common.db import Route
from tests.gateway.conftest import Site
from tests.ui.browser import Session
from tests.utils.backends import ADMIN_SECRET

# Written by the gateway's renders, not by any editor, so they may move on during the test.
RENDER_FIELDS = ("render_status", "render_error")


async def _items(site: Site, path: str) -> list[dict[str, Any]]:
    response = await site.admin.client.get(path, params={"limit": 200})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]["items"]
    return items


async def _everything(site: Site) -> dict[str, Any]:
    """Every template (in full), route, dashboard and widget as the API answers them."""
    templates = []
    for summary in await _items(site, "/api/v1/templates"):
        response = await site.admin.client.get(f"/api/v1/templates/{summary['id']}")
        assert response.status_code == 200, response.text
        full = response.json()["data"]
        templates.append({k: v for k, v in full.items() if k not in RENDER_FIELDS})
    dashboards = await _items(site, "/api/v1/dashboards")
    widgets = {
        d["id"]: await _items(site, f"/api/v1/dashboards/{d['id']}/widgets") for d in dashboards
    }
    routes = await _items(site, "/api/v1/routes")
    return {"templates": templates, "routes": routes, "dashboards": dashboards, "widgets": widgets}


class Writes:
    """The requests the page sends that could change something (the live preview only
    renders, so it is not one)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, request: Request) -> None:
        if request.method in ("GET", "HEAD") or request.url.endswith("/templates/preview"):
            return
        if "/api/" in request.url:
            self.seen.append(f"{request.method} {request.url}")


async def _save_form(ui: Session, form: Locator) -> str:
    """Save an unchanged route, dashboard or widget form; it closes. Returns what the UI said."""
    await expect(form).to_be_visible()
    await form.get_by_role("button", name="Save", exact=True).click()
    await expect(form).to_have_count(0)
    return await ui.page.get_by_role("contentinfo").get_by_role("status").inner_text()


async def _save_every_editor(ui: Session, before: dict[str, Any]) -> list[tuple[str, str]]:
    """Open each kind's editor on every object and save it as it is. Returns, per save, what
    the UI should have said and what it said (a form's message names its object, so an
    earlier save's message left in the status line does not pass for this one's)."""
    page = ui.page
    said: list[tuple[str, str]] = []
    for template in before["templates"]:
        await ui.open(f"templates/{template['id']}")
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            f"Template {template['name']}"
        )
        # The save's own status line, beside the button (the preview has one too).
        status = page.locator(".template-form").get_by_role("status")
        # Enabled once the template's own values are in the editors.
        await page.get_by_role("button", name="Save", exact=True).click()
        await expect(status).not_to_have_text(re.compile(r"^(|Saving…)$"))
        # A fresh page each time: the status line is this save's.
        said.append(("No changes to save", await status.inner_text()))

    await ui.open("routes")
    for route in before["routes"]:
        await page.get_by_role("button", name=f"Edit {route['path']}", exact=True).click()
        form = page.get_by_role("form", name=f"Edit {route['path']}", exact=True)
        said.append((f"No changes to save in {route['path']}", await _save_form(ui, form)))

    for dashboard in before["dashboards"]:
        await ui.open(f"dashboards/{dashboard['id']}")
        await page.get_by_role("button", name="Edit dashboard", exact=True).click()
        form = page.get_by_role("form", name=f"Edit {dashboard['name']}", exact=True)
        expected = f"No changes to save in dashboard {dashboard['name']}"
        said.append((expected, await _save_form(ui, form)))
        for widget in before["widgets"][dashboard["id"]]:
            edit = page.get_by_role("button", name=f"Edit widget {widget['key']}", exact=True)
            await edit.click()
            form = page.get_by_role("form", name=f"Edit widget {widget['key']}", exact=True)
            expected = f"No changes to save in widget {widget['key']}"
            said.append((expected, await _save_form(ui, form)))
    return said


async def _assert_round_trip(ui: Session, site: Site) -> None:
    writes = Writes()
    ui.page.on("request", writes)
    await ui.sign_in(ADMIN_SECRET)
    before = await _everything(site)
    said = await _save_every_editor(ui, before)
    after = await _everything(site)
    assert after == before
    assert writes.seen == []
    assert [(expected, text) for expected, text in said if text != expected] == []


async def test_saving_every_demo_object_unchanged_changes_nothing(ui: Session, site: Site) -> None:
    # The live preview of the partial demo-widget, which no route uses, renders without a
    # widget and shows the 422 in the preview; whether it is sent before the next page opens
    # depends on the machine. Writes are checked apart from the console.
    ui.expect_status(422)
    assert await seed_demo(site.gateway.runtime)
    seeded = await _everything(site)
    assert len(seeded["templates"]) == 3
    assert len(seeded["dashboards"]) == 2
    # The demo's home page is the case: a route on the built-in layout.
    assert [r["path"] for r in seeded["routes"] if r["template_id"] is None] == ["/"]
    await _assert_round_trip(ui, site)


async def test_values_the_editors_cannot_type_survive_a_save(ui: Session, site: Site) -> None:
    """Values the form's fields would rewrite if sent back: an empty description (the field
    shows it as nothing, like null), CRLF line ends (the code editor keeps LF), whole floats
    (JSON.parse turns 1.0 into 1, an integer to the API), null widget data (shown as {} for
    a new widget), and a handler_config key written before the schema refused it."""
    await site.admin.create_template(
        "crlf", "<p>one</p>\r\n<p>{{ ratio }}</p>\r\n", description="", config={"ratio": 1.0}
    )
    created = await site.admin.client.post(
        "/api/v1/dashboards", json={"name": "edge", "title": " padded ", "description": ""}
    )
    assert created.status_code == 201, created.text
    dashboard = created.json()["data"]
    widget = await site.admin.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={"key": "nulls", "config": {"scale": 2.0, "extra": [1, 2.5]}, "data": None},
    )
    assert widget.status_code == 201, widget.text
    templates = await _items(site, "/api/v1/templates")
    route = await site.admin.client.post(
        "/api/v1/routes",
        json={
            "path": "/edge",
            "template_id": templates[0]["id"],
            "handler_config": {"context": {"ratio": 1.0}, "cache_ttl": 60},
        },
    )
    assert route.status_code == 201, route.text
    async with site.gateway.runtime.database.write() as session:
        await session.execute(
            update(Route).values(
                handler_config={"context": {"ratio": 1.0}, "cache_ttl": 60, "legacy": True}
            )
        )
    await _assert_round_trip(ui, site)


async def test_a_route_without_template_shows_the_built_in_layout(ui: Session, site: Site) -> None:
    dashboard = await site.admin.create_dashboard("plain", is_public=True)
    await site.admin.create_template("first", "<p>first</p>")
    created = await site.admin.client.post(
        "/api/v1/routes",
        json={
            "path": "/plain",
            "template_id": None,
            "handler_config": {"dashboard_id": dashboard["id"]},
        },
    )
    assert created.status_code == 201, created.text
    page = ui.page
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Routes", exact=True).click()
    row = page.get_by_role("row").filter(has_text="/plain")
    await expect(row.get_by_role("cell").nth(2)).to_have_text("built-in layout")
    await row.get_by_role("button", name="Edit /plain", exact=True).click()
    template = page.get_by_label("Template", exact=True)
    await expect(template).to_have_value("")
    await expect(template.locator("option:checked")).to_have_text("built-in layout")


async def test_a_route_moves_to_a_template_and_back_to_the_built_in_layout(
    ui: Session, site: Site
) -> None:
    dashboard = await site.admin.create_dashboard("plain", is_public=True)
    first = await site.admin.create_template("first", "<p>first</p>")
    created = await site.admin.client.post(
        "/api/v1/routes",
        json={"path": "/plain", "handler_config": {"dashboard_id": dashboard["id"]}},
    )
    assert created.status_code == 201, created.text
    route_id = created.json()["data"]["id"]
    page = ui.page
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Routes", exact=True).click()
    row = page.get_by_role("row").filter(has_text="/plain")
    cell = row.get_by_role("cell").nth(2)

    for label, template_id, version in (("first", first["id"], 2), ("built-in layout", None, 3)):
        await row.get_by_role("button", name="Edit /plain", exact=True).click()
        await page.get_by_label("Template", exact=True).select_option(label=label)
        await page.get_by_role("button", name="Save", exact=True).click()
        await expect(cell).to_have_text(label)
        saved = (await site.admin.client.get(f"/api/v1/routes/{route_id}")).json()["data"]
        assert saved["template_id"] == template_id
        assert saved["version"] == version
        assert saved["handler_config"] == created.json()["data"]["handler_config"]
