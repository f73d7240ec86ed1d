"""Unsaved changes are guarded on navigation; objects managed from files show their lock and
ask before a save (which is then sent with force=true)."""

from __future__ import annotations

from playwright.async_api import Route, expect

from tests.gateway.conftest import Site
from tests.ui.browser import Session
from tests.utils.backends import ADMIN_SECRET


async def test_leaving_with_unsaved_changes_asks_first(ui: Session, site: Site) -> None:
    page = ui.page
    template = await site.admin.create_template("draft", "<p>saved</p>")
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="draft", exact=True).click()
    await ui.type_into("HTML", "<p>unsaved</p>")
    await page.get_by_role("link", name="Routes", exact=True).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("unsaved changes")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_label("HTML", exact=True)).to_contain_text("<p>unsaved</p>")

    await page.go_back()  # back to the list: the browser's own navigation is guarded too
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(page).to_have_url(f"{ui.base_url}/admin/templates/{template['id']}")

    await page.get_by_role("link", name="Routes", exact=True).click()
    await dialog.get_by_role("button", name="Leave").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Routes")


async def test_a_template_managed_from_files_shows_its_lock_and_confirms(
    ui: Session, site: Site
) -> None:
    page = ui.page
    # Applied from files for real: the API answers managed_by "files" and refuses a plain PUT.
    applied = await site.admin.client.post(
        "/api/v1/site/apply",
        json={"bundle": {"templates": [{"name": "from-files", "html_content": "<p>file</p>"}]}},
    )
    assert applied.status_code == 200, applied.text
    listed = await site.admin.client.get("/api/v1/templates", params={"name": "from-files"})
    template = listed.json()["data"]["items"][0]
    assert template["managed_by"] == "files"
    writes: list[str] = []

    async def watched(route: Route) -> None:
        if route.request.method == "PUT":
            writes.append(route.request.url)
        await route.continue_()

    await page.route(f"**/api/v1/templates/{template['id']}*", watched)
    await ui.sign_in(ADMIN_SECRET)
    await ui.open(f"templates/{template['id']}")
    await expect(page.get_by_text("Managed from files")).to_be_visible()
    await ui.type_into("HTML", "<p>hotfix</p>")
    await page.get_by_role("button", name="Save", exact=True).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("managed from files")
    await dialog.get_by_role("button", name="Cancel").click()
    assert writes == []
    await page.get_by_role("button", name="Save", exact=True).click()
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
    assert len(writes) == 1
    assert "force=true" in writes[0]
