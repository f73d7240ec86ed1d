"""Two writers: a save against a stale version shows the conflict view, never overwrites."""

from __future__ import annotations

from playwright.async_api import expect

from tests.gateway.conftest import Site
from tests.ui.browser import Session
from tests.utils.backends import ADMIN_SECRET


async def test_a_concurrent_api_edit_produces_the_conflict_view(ui: Session, site: Site) -> None:
    ui.expect_status(412)
    page = ui.page
    template = await site.admin.create_template("shared", "<p>base</p>")
    await ui.sign_in(ADMIN_SECRET)
    await ui.open(f"templates/{template['id']}")
    await expect(page.get_by_label("HTML", exact=True)).to_contain_text("<p>base</p>")

    server_edit = await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"html_content": "<p>from the API</p>"}
    )
    assert server_edit.status_code == 200
    await ui.type_into("HTML", "<p>from the browser</p>")
    await page.get_by_role("button", name="Save", exact=True).click()

    conflict = page.get_by_role("region", name="Conflict")
    await expect(conflict).to_be_visible()
    await expect(conflict).to_contain_text("version 2")
    await expect(conflict.get_by_role("table")).to_contain_text("<p>from the API</p>")
    await expect(conflict.get_by_role("table")).to_contain_text("<p>from the browser</p>")
    current = await site.admin.client.get(f"/api/v1/templates/{template['id']}")
    assert current.json()["data"]["html_content"] == "<p>from the API</p>"  # nothing overwritten

    await conflict.get_by_role("button", name="Take the server's").click()
    await expect(conflict).to_be_hidden()
    await expect(page.get_by_label("HTML", exact=True)).to_contain_text("<p>from the API</p>")

    # Again, and this time the user keeps theirs: a deliberate save over version 3.
    await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"html_content": "<p>API again</p>"}
    )
    await ui.type_into("HTML", "<p>mine wins</p>")
    await page.keyboard.press("Control+s")
    await expect(conflict).to_be_visible()
    await conflict.get_by_role("button", name="Keep mine").click()
    await expect(conflict).to_be_hidden()
    current = await site.admin.client.get(f"/api/v1/templates/{template['id']}")
    assert current.json()["data"]["html_content"] == "<p>mine wins</p>"
    assert current.json()["data"]["version"] == 4
