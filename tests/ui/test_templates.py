"""Templates in the browser: create with live preview, save twice, diff, roll back."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.gateway.conftest import Site
from tests.ui.browser import Session
from tests.utils.backends import ADMIN_SECRET


async def test_sign_in_refuses_a_wrong_key_and_a_401_signs_out(ui: Session) -> None:
    page = ui.page
    ui.expect_status(401)
    await ui.open()
    await page.get_by_label("API key", exact=True).fill("ddk_not-a-valid-key-0000000000000")
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("alert")).to_contain_text("not valid")
    await ui.sign_in(ADMIN_SECRET)
    await expect(page.get_by_role("button", name="New template", exact=True)).to_be_visible()
    # A key that stops working (here: replaced in storage) sends the user back to sign in.
    await page.evaluate("sessionStorage.setItem('dyndash.apiKey', 'ddk_revoked-0000000000000000')")
    await page.get_by_role("link", name="Keys", exact=True).click()
    await expect(page.get_by_label("API key", exact=True)).to_be_visible()


async def test_create_preview_save_twice_diff_and_roll_back(ui: Session, site: Site) -> None:
    page = ui.page
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("button", name="New template", exact=True).click()
    await page.get_by_label("Name", exact=True).fill("landing")
    await ui.type_into("HTML", "<h1>First {{ 6 * 7 }}</h1>")
    await ui.type_into("CSS", "h1 { color: rgb(10, 20, 30); }")
    preview = page.get_by_role("region", name="Preview").frame_locator("iframe")
    await expect(preview.locator("h1")).to_have_text("First 42")
    await expect(preview.locator("h1")).to_have_css("color", "rgb(10, 20, 30)")

    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/admin/templates/\d+$"))
    template_id = int(page.url.rsplit("/", 1)[1])
    history = page.get_by_role("region", name="History")
    versions = history.get_by_role("listbox", name="Versions").get_by_role("option")
    await expect(versions).to_have_count(1)

    await ui.type_into("HTML", "<h1>Second</h1>")
    await expect(preview.locator("h1")).to_have_text("Second")
    await page.keyboard.press("Control+s")
    await expect(versions).to_have_count(2)

    response = await site.admin.client.post(
        "/api/v1/routes", json={"path": "/landing", "template_id": template_id}
    )
    assert response.status_code == 201, response.text
    await site.route_known(response.json()["data"]["id"])
    assert "Second" in (await site.page("/landing")).text

    await versions.filter(has_text=re.compile(r"^Version 1\b")).click()
    diff = history.get_by_role("table")
    await expect(diff).to_contain_text("First {{ 6 * 7 }}")
    await expect(diff).to_contain_text("Second")
    await history.get_by_role("button", name="Preview version").click()
    await expect(preview.locator("h1")).to_have_text("First 42")

    await history.get_by_role("button", name="Rollback", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm", exact=True).click()
    await expect(versions).to_have_count(3)
    await expect(page.get_by_label("HTML", exact=True)).to_contain_text("First {{ 6 * 7 }}")
    served = await site.eventually("/landing", lambda r: "First 42" in r.text)
    assert "First 42" in served.text


async def test_a_syntax_error_is_marked_on_its_line(ui: Session) -> None:
    page = ui.page
    ui.expect_status(422)
    await ui.sign_in(ADMIN_SECRET)
    await ui.open("templates/new")
    await page.get_by_label("Name", exact=True).fill("broken")
    await ui.type_into("HTML", "<p>one</p>\n<p>two</p>\n{% if %}\n")
    await page.keyboard.press("Control+s")
    await expect(page.get_by_role("alert").filter(has_text="line 3")).to_be_visible()
    marker = page.locator(".editor-html_content .cm-lintRange-error")
    await expect(marker).to_have_count(1)
    # The preview says what failed instead of showing a broken frame.
    await expect(page.get_by_role("region", name="Preview").get_by_role("alert")).to_be_visible()


async def test_description_state_config_and_delete(ui: Session, site: Site) -> None:
    page = ui.page
    template = await site.admin.create_template("settings", "<p>x</p>")
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="settings", exact=True).click()
    await page.get_by_text("Description, state and config").click()
    await page.get_by_label("Description", exact=True).fill("the settings page")
    await page.get_by_label("Active (routes using it are served)").uncheck()
    await ui.type_into("Config", '{"theme": "dark",}')
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("alert").filter(has_text="not valid JSON")).to_be_visible()
    await ui.type_into("Config", '{"theme": "dark"}')
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Saved version 2")).to_be_visible()
    saved = (await site.admin.client.get(f"/api/v1/templates/{template['id']}")).json()["data"]
    assert saved["description"] == "the settings page"
    assert saved["is_active"] is False
    assert saved["config"] == {"theme": "dark"}

    await page.get_by_role("button", name="Delete template").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Templates")
    gone = await site.admin.client.get(f"/api/v1/templates/{template['id']}")
    assert gone.status_code == 404


async def test_the_list_searches_and_shows_render_status(ui: Session, site: Site) -> None:
    page = ui.page
    await site.admin.create_template("alpha-page", "<p>a</p>")
    await site.admin.create_template("beta-page", "<p>b</p>")
    await ui.sign_in(ADMIN_SECRET)
    rows = page.get_by_role("table").get_by_role("row")
    await expect(rows).to_have_count(3)  # the header and two templates
    await expect(rows.nth(1)).to_contain_text("not rendered")
    await page.get_by_label("Search", exact=True).fill("beta")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(1)).to_contain_text("beta-page")


async def test_a_large_template_keeps_jinja_marked(ui: Session, site: Site) -> None:
    # Past 400 lines the editor parses HTML incrementally and marks Jinja tags in view.
    html = "\n".join(f"<p>{{{{ title }}}} {n}</p>" for n in range(600))
    template = await site.admin.create_template("large", html)
    await ui.sign_in(ADMIN_SECRET)
    await ui.open(f"templates/{template['id']}")
    editor = ui.page.locator(".editor-html_content")
    await expect(editor.locator(".cm-jinja").first).to_have_text("{{ title }}")
