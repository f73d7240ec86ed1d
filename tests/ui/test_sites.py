"""Routes, dashboards and widgets in the browser: create, edit, delete, with the API's
validation messages and a link to each route on the gateway."""

from __future__ import annotations

from playwright.async_api import expect

from tests.gateway.conftest import Site
from tests.ui.browser import Session
from tests.utils.backends import ADMIN_SECRET


async def test_dashboards_and_widgets(ui: Session, site: Site) -> None:
    ui.expect_status(422)
    page = ui.page
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Dashboards", exact=True).click()
    await page.get_by_role("button", name="New dashboard").click()
    await page.get_by_label("Name", exact=True).fill("sales")
    await page.get_by_label("Title", exact=True).fill("Sales")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard sales")

    await page.get_by_role("button", name="New widget").click()
    await page.get_by_label("Key", exact=True).fill("revenue")
    await ui.type_into("Widget data", '{"value": 12,}')
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="not valid JSON")).to_be_visible()

    await ui.type_into("Widget data", '{"value": 12}')
    await page.get_by_label("Key", exact=True).fill("not a slug!")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="key")).to_be_visible()

    await page.get_by_label("Key", exact=True).fill("revenue")
    await page.get_by_role("button", name="Save", exact=True).click()
    row = page.get_by_role("row").filter(has_text="revenue")
    await expect(row).to_contain_text("data v1")
    dashboards = (await site.admin.client.get("/api/v1/dashboards")).json()["data"]["items"]
    widgets = await site.admin.client.get(f"/api/v1/dashboards/{dashboards[0]['id']}/widgets")
    assert widgets.json()["data"]["items"][0]["data"] == {"value": 12}

    await row.get_by_role("button", name="Edit widget revenue").click()
    await ui.type_into("Widget data", '{"value": 13}')
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(row).to_contain_text("data v2")

    await row.get_by_role("button", name="Delete widget revenue").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await expect(row).to_have_count(0)


async def test_routes(ui: Session, site: Site) -> None:
    ui.expect_status(422)
    page = ui.page
    await site.admin.create_template("home", "<h1>Home page</h1>")
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Routes", exact=True).click()
    await page.get_by_role("button", name="New route").click()
    await page.get_by_label("Path", exact=True).fill("/api/taken")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="path")).to_be_visible()

    await page.get_by_label("Path", exact=True).fill("/home")
    await page.get_by_label("Template", exact=True).select_option(label="home")
    await ui.type_into("Handler config", '{"context": {"title": "Hi"}, "cache_ttl": 60}')
    await page.get_by_role("button", name="Save", exact=True).click()
    row = page.get_by_role("row").filter(has_text="/home")
    await expect(row).to_contain_text("home")
    link = row.get_by_role("link", name="Open /home on the gateway")
    assert (await link.get_attribute("href") or "").endswith("/home")
    routes = (await site.admin.client.get("/api/v1/routes")).json()["data"]["items"]
    await site.route_known(routes[0]["id"])
    assert "Home page" in (await site.page("/home")).text

    await row.get_by_role("button", name="Edit /home").click()
    await page.get_by_label("Path", exact=True).fill("/start")
    await page.get_by_role("button", name="Save", exact=True).click()
    moved = page.get_by_role("row").filter(has_text="/start")
    await expect(moved).to_have_count(1)
    await moved.get_by_role("button", name="Delete /start").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await expect(moved).to_have_count(0)
    assert (await site.admin.client.get("/api/v1/routes")).json()["data"]["total"] == 0
