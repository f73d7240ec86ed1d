"""An axe-core scan of every screen: no serious or critical violation."""

from __future__ import annotations

from playwright.async_api import expect

from tests.gateway.conftest import Site
from tests.ui.browser import axe_violations, browser_session
from tests.utils.backends import ADMIN_SECRET


async def test_every_screen_passes_axe(site: Site) -> None:
    template = await site.admin.create_template("scanned", "<h1>{{ title }}</h1>\n{# note #}")
    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"css_content": "h1 { color: red; }"}
    )
    dashboard = await site.admin.create_dashboard("scan")
    await site.admin.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets", json={"key": "w", "data": {"v": 1}}
    )
    await site.admin.client.post(
        "/api/v1/routes", json={"path": "/scan", "template_id": template["id"]}
    )
    found: dict[str, list[str]] = {}
    async with browser_session(site.admin.base_url, bypass_csp=True) as ui:
        page = ui.page
        await ui.open()
        found["sign in"] = await axe_violations(page)
        await ui.sign_in(ADMIN_SECRET)
        await expect(page.get_by_role("row").filter(has_text="scanned")).to_be_visible()
        found["templates"] = await axe_violations(page)

        await page.get_by_role("link", name="scanned").click()
        history = page.get_by_role("region", name="History")
        await history.get_by_role("option").first.click()
        await expect(history.get_by_role("table")).to_be_visible()
        await expect(page.locator(".cm-content").first).to_be_visible()
        found["template editor, preview and history"] = await axe_violations(page)

        await page.get_by_role("button", name="Rollback", exact=True).click()
        found["confirmation dialog"] = await axe_violations(page)
        await page.get_by_role("dialog").get_by_role("button", name="Cancel").click()

        ui.expect_status(412)
        await site.admin.client.put(
            f"/api/v1/templates/{template['id']}", json={"html_content": "<h2>theirs</h2>"}
        )
        await ui.type_into("HTML", "<h2>mine</h2>")
        await page.get_by_role("button", name="Save", exact=True).click()
        await expect(page.get_by_role("region", name="Conflict")).to_be_visible()
        found["conflict"] = await axe_violations(page)
        await page.get_by_role("button", name="Take the server's").click()

        await page.get_by_role("link", name="Routes", exact=True).click()
        await page.get_by_role("button", name="New route").click()
        await expect(page.get_by_label("Handler config", exact=True)).to_be_visible()
        found["routes"] = await axe_violations(page)

        await page.get_by_role("link", name="Dashboards", exact=True).click()
        await expect(page.get_by_role("link", name="scan")).to_be_visible()
        found["dashboards"] = await axe_violations(page)
        await page.get_by_role("link", name="scan").click()
        await page.get_by_role("button", name="Edit widget w").click()
        await expect(page.get_by_label("Widget data", exact=True)).to_be_visible()
        found["dashboard and widget"] = await axe_violations(page)

        await page.get_by_role("link", name="Keys", exact=True).click()
        await expect(page.get_by_role("row").filter(has_text="bootstrap")).to_be_visible()
        found["keys"] = await axe_violations(page)
        await page.get_by_role("button", name="Create key", exact=True).click()
        await page.get_by_label("Key name", exact=True).fill("scan")
        await page.get_by_label("data:read", exact=True).check()
        await page.get_by_role("button", name="Create", exact=True).click()
        await expect(page.get_by_label("Secret", exact=True)).to_be_visible()
        found["new key"] = await axe_violations(page)

        await page.get_by_role("link", name="Events", exact=True).click()
        await site.admin.create_dashboard("event")
        feed = page.get_by_role("region", name="Events")
        await expect(feed.get_by_role("listitem")).to_have_count(1)
        found["events"] = await axe_violations(page)
        assert ui.unexpected_errors() == []
    assert {screen: v for screen, v in found.items() if v} == {}
