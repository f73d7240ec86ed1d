"""Debian's chromium driven by Playwright (never `playwright install`: DEVELOPERS.md), and
the admin UI's bundle. Either missing skips locally and fails under CI=true."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect

from dyndash_admin_api.ui import CHECKOUT_BUNDLE

CHROMIUM = (
    os.environ.get("DYNDASH_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
UI_MODULES = Path(__file__).resolve().parents[2] / "ui" / "node_modules"

# What the browser itself logs for an HTTP error answer; a test allows the statuses its flow
# expects (401 signing out, 412 a conflict, 422 a refused template), nothing else.
FAILED_LOAD = re.compile(r"^Failed to load resource: the server responded with a status of (\d{3})")


def _missing(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what}; CI requires it", pytrace=False)
    pytest.skip(what)


def require_bundle() -> None:
    if not (CHECKOUT_BUNDLE / "index.html").is_file():
        _missing("the admin UI is not built (make sync, with Node.js and npm)")


def require_browser() -> None:
    if not Path(CHROMIUM).is_file():
        _missing("chromium is not installed (Debian: apt-get install chromium)")
    require_bundle()


@dataclass
class Session:
    """One page of the admin UI, with every console error it logged."""

    page: Page
    base_url: str
    errors: list[str] = field(default_factory=list)
    expected_statuses: set[int] = field(default_factory=set)

    async def open(self, path: str = "") -> None:
        await self.page.goto(f"{self.base_url}/admin/{path}")

    async def sign_in(self, key: str) -> None:
        await self.open()
        await self.page.get_by_label("API key", exact=True).fill(key)
        await self.page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(self.page.get_by_role("link", name="Templates", exact=True)).to_be_visible()

    async def type_into(self, label: str, text: str) -> None:
        """Replace an editor's whole text, as a user's select-all and typing would."""
        editor = self.page.get_by_label(label, exact=True)
        await editor.click()
        await self.page.keyboard.press("Control+A")
        await self.page.keyboard.insert_text(text)

    def expect_status(self, *statuses: int) -> None:
        self.expected_statuses.update(statuses)

    def unexpected_errors(self) -> list[str]:
        unexpected = []
        for text in self.errors:
            failed = FAILED_LOAD.match(text)
            if not failed or int(failed.group(1)) not in self.expected_statuses:
                unexpected.append(text)
        return unexpected


@asynccontextmanager
async def browser_session(base_url: str, *, bypass_csp: bool = False) -> AsyncIterator[Session]:
    """`bypass_csp`: only to inject axe-core, which the UI's CSP rightly refuses."""
    require_browser()
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        try:
            context = await browser.new_context(
                viewport={"width": 1400, "height": 1000}, bypass_csp=bypass_csp
            )
            page = await context.new_page()
            session = Session(page, base_url)

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    session.errors.append(message.text)

            page.on("console", on_console)
            page.on("pageerror", lambda error: session.errors.append(f"uncaught: {error}"))
            yield session
        finally:
            await browser.close()


async def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=UI_MODULES / "axe-core" / "axe.min.js")
    results = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at {v['nodes']}"
        for v in results
        if v["impact"] in ("serious", "critical")
    ]
