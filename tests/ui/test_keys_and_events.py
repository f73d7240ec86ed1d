"""Keys (the secret shown once, revocation) and the live events feed."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Route, expect

from tests.gateway.conftest import Site
from tests.ui.browser import Session
from tests.utils.backends import ADMIN_SECRET


async def test_create_and_revoke_a_key(ui: Session, site: Site) -> None:
    page = ui.page
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Keys", exact=True).click()
    await page.get_by_role("button", name="Create key", exact=True).click()
    await page.get_by_label("Key name", exact=True).fill("ci-reader")
    await page.get_by_label("data:read", exact=True).check()
    await page.get_by_label("events:read", exact=True).check()
    await page.get_by_role("button", name="Create", exact=True).click()
    secret_box = page.get_by_label("Secret", exact=True)
    await expect(secret_box).to_have_attribute("readonly", "")
    secret = await secret_box.input_value()
    assert secret.startswith("ddk_")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.get_by_role("button", name="Copy", exact=True).click()
    await expect(page.get_by_role("button", name="Copied", exact=True)).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == secret

    reader = {"X-API-Key": secret}
    assert (await site.admin.client.get("/api/v1/templates", headers=reader)).status_code == 200
    row = page.get_by_role("row").filter(has_text="ci-reader")
    await expect(row).to_contain_text("data:read, events:read")
    await row.get_by_role("button", name="Revoke", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm", exact=True).click()
    await expect(row).to_contain_text("revoked")
    assert (await site.admin.client.get("/api/v1/templates", headers=reader)).status_code == 401


async def test_a_save_appears_in_events_within_a_second(ui: Session, site: Site) -> None:
    page = ui.page
    template = await site.admin.create_template("watched", "<p>1</p>")
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Events", exact=True).click()
    events = page.get_by_role("region", name="Events")
    await expect(events.get_by_role("status")).to_have_text("Live")

    started = time.monotonic()
    saved = await site.admin.client.put(
        f"/api/v1/templates/{template['id']}", json={"html_content": "<p>2</p>"}
    )
    assert saved.status_code == 200
    updated = events.get_by_role("listitem").filter(has_text="template.updated")
    await expect(updated).to_have_count(1, timeout=1000)
    assert time.monotonic() - started < 1.0

    # Filtered by type: other types are hidden, this one stays.
    await site.admin.create_dashboard("other")
    created = events.get_by_role("listitem").filter(has_text="dashboard.created")
    await expect(created).to_have_count(1)
    await events.get_by_label("Type", exact=True).select_option("template.updated")
    await expect(events.get_by_role("listitem")).to_have_count(1)
    await expect(events.get_by_role("listitem")).to_contain_text("template.updated")


async def test_a_dropped_feed_resumes_with_last_event_id(ui: Session, site: Site) -> None:
    page = ui.page
    resumed_from: list[str | None] = []

    # The first connection ends after one event (as a server restart would end it); the
    # reconnection must name that event, and is passed on to the real stream.
    async def stream(route: Route) -> None:
        if not resumed_from and route.request.headers.get("last-event-id") is None:
            resumed_from.append(None)
            await route.fulfill(
                status=200,
                headers={"Content-Type": "text/event-stream"},
                body='id: 41\nevent: template.updated\ndata: {"id": 41}\n\n',
            )
            return
        resumed_from.append(route.request.headers.get("last-event-id"))
        await route.continue_()

    await page.route("**/api/v1/events", stream)
    await ui.sign_in(ADMIN_SECRET)
    await page.get_by_role("link", name="Events", exact=True).click()
    events = page.get_by_role("region", name="Events")
    await expect(events.get_by_role("listitem").filter(has_text="#41")).to_have_count(1)
    for _ in range(100):  # the reconnection comes half a second after the drop
        if len(resumed_from) >= 2:
            break
        await asyncio.sleep(0.05)
    assert resumed_from[:2] == [None, "41"]
    await expect(events.get_by_role("status")).to_have_text("Live")
