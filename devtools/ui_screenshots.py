"""The README's admin UI screenshots, taken from `dyndash dev` on a throwaway database:

    uv run python -m devtools.ui_screenshots

Writes ui/screenshots/*.png. Needs the built bundle (make sync) and Debian's chromium.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from bench.harness import ROOT, free_port, process
from tests.ui.browser import CHROMIUM

OUT = ROOT / "ui" / "screenshots"
# A throwaway key for a throwaway database: it never leaves this run.
KEY = "ddk_screenshots-only-" + os.urandom(12).hex()


def shoot(page: Page, name: str, *, full_page: bool = False) -> None:
    page.wait_for_timeout(400)
    page.screenshot(path=OUT / f"{name}.png", full_page=full_page)
    print(f"ui/screenshots/{name}.png")


def edit_twice(base: str) -> int:
    with httpx.Client(base_url=base, headers={"X-API-Key": KEY}, timeout=10) as api:
        items = api.get("/api/v1/templates", params={"name": "demo-page"}).json()["data"]["items"]
        page = api.get(f"/api/v1/templates/{items[0]['id']}").json()["data"]
        html = page["html_content"].replace("<h1>", '<h1 class="headline">', 1)
        api.put(f"/api/v1/templates/{page['id']}", json={"html_content": html})
        api.put(
            f"/api/v1/templates/{page['id']}",
            json={"css_content": "h1 { color: #234; }\n.headline { letter-spacing: 0.02em; }"},
        )
        return int(page["id"])


def main() -> None:
    OUT.mkdir(exist_ok=True)
    admin, gateway = free_port(), free_port()
    with tempfile.TemporaryDirectory() as directory:
        env = {
            "DATABASE_URL": f"sqlite:///{Path(directory) / 'dyndash.db'}",
            "REDIS_URL": "",
            "DYNDASH_BOOTSTRAP_API_KEY": KEY,
            "DYNDASH_ADMIN_PORT": str(admin),
            "DYNDASH_GATEWAY_PORT": str(gateway),
            "DYNDASH_METRICS_PORT": "0",
            "DYNDASH_LOG_LEVEL": "WARNING",
        }
        base = f"http://127.0.0.1:{admin}"
        command = [sys.executable, "-m", "dyndash.cli", "dev"]
        with process(command, env, f"{base}/healthz"):
            template_id = edit_twice(base)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox"]
                )
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(f"{base}/admin/")
                page.get_by_label("API key", exact=True).fill(KEY)
                page.get_by_role("button", name="Sign in", exact=True).click()
                expect(page.get_by_role("link", name="demo-page")).to_be_visible()
                shoot(page, "templates")

                page.goto(f"{base}/admin/templates/{template_id}")
                history = page.get_by_role("region", name="History")
                history.get_by_role("option").nth(1).click()
                expect(history.get_by_role("table").first).to_be_visible()
                expect(
                    page.get_by_role("region", name="Preview").get_by_role("status")
                ).to_have_text(re.compile("Preview of"))
                # The status is set when the preview is asked for; the frame fills a moment later.
                frame = page.get_by_role("region", name="Preview").frame_locator("iframe")
                expect(frame.locator("h1").first).to_be_visible()
                # A tall viewport rather than full_page: Chromium's full-page capture leaves the
                # preview's frame unpainted.
                page.set_viewport_size({"width": 1400, "height": 1050})
                shoot(page, "editor")
                page.set_viewport_size({"width": 1400, "height": 900})

                httpx.put(
                    f"{base}/api/v1/templates/{template_id}",
                    headers={"X-API-Key": KEY},
                    json={"description": "edited elsewhere", "html_content": "<h1>Theirs</h1>"},
                )
                editor = page.get_by_label("HTML", exact=True)
                editor.click()
                page.keyboard.press("Control+End")
                page.keyboard.insert_text("\n<p>Mine</p>")
                page.keyboard.press("Control+s")
                expect(page.get_by_role("region", name="Conflict")).to_be_visible()
                page.get_by_role("region", name="Conflict").scroll_into_view_if_needed()
                shoot(page, "conflict")
                page.get_by_role("button", name="Take the server's").click()

                page.get_by_role("link", name="Events", exact=True).click()
                expect(page.get_by_text("Live")).to_be_visible()
                httpx.put(
                    f"{base}/api/v1/templates/{template_id}",
                    headers={"X-API-Key": KEY},
                    json={"html_content": "<h1>Again</h1>"},
                )
                expect(page.get_by_role("listitem").first).to_be_visible()
                shoot(page, "events")
                browser.close()


if __name__ == "__main__":
    main()
