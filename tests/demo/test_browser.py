"""The demo in a real browser: Debian's chromium driven by Playwright against `dyndash dev`.

Chromium is required under CI (which installs it), skipped locally without it. Never
`playwright install`: the browser is the system's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from devtools.cluster import free_port

CHROMIUM = "/usr/bin/chromium"
BUILT_IN = ("stat", "line", "area", "bar", "pie", "donut", "table", "gauge", "text", "generic")
# Records every CSP violation the page reports, before any of the page's own code runs.
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(e.violatedDirective + " " + e.blockedURI);
});
window.__shift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) { window.__shift += entry.value; }
}).observe({type: "layout-shift", buffered: true});
"""


def _require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed; CI requires it", pytrace=False)
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")


@dataclass
class Dev:
    site: str
    admin: str
    key: str

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.admin + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"X-API-Key": self.key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["data"]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """`dyndash dev --ticker` as `make dev` runs it, in a directory of its own."""
    _require_chromium()
    home = tmp_path_factory.mktemp("dev")
    site_port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{home}/dyndash.db",
        "DYNDASH_GATEWAY_PORT": str(site_port),
        "DYNDASH_ADMIN_PORT": str(admin_port),
        "DYNDASH_METRICS_PORT": "0",
    }
    env.pop("REDIS_URL", None)
    log = (home / "dev.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "dyndash.cli", "dev", "--ticker"],
        cwd=home,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        site = f"http://127.0.0.1:{site_port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(site + "/healthz", timeout=1)
                urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/healthz", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((home / "dev.log").read_text()[-3000:]) from None
                time.sleep(0.2)
        key = (home / ".dyndash/dev-api-key").read_text().strip()
        yield Dev(site, f"http://127.0.0.1:{admin_port}", key)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(dev: Dev) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_demo_renders_every_type_without_console_errors_or_csp_violations(
    dev: Dev, browser: Any, tmp_path: Path, scheme: str
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page.add_init_script(WATCH_CSP)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    fragments: list[str] = []
    page.on("request", lambda r: fragments.append(r.url) if "/fragments/" in r.url else None)
    page.goto(dev.site + "/", wait_until="networkidle")
    page.mouse.wheel(0, 5000)
    # Polled from here: wait_for_function evaluates a string, which the page's CSP refuses.
    deadline = time.monotonic() + 15
    while page.evaluate("document.querySelectorAll('.dd-placeholder').length"):
        assert time.monotonic() < deadline, "placeholders were never filled"
        page.wait_for_timeout(100)
    page.evaluate("window.scrollTo(0, 0)")
    # The widgets below the route's inline priority came from their fragments, into the
    # space reserved for them: nothing moved.
    lazy = {f"{dev.site}/fragments/widgets/{i}" for i in _lazy_widget_ids(dev)}
    assert len(lazy) == 6
    assert lazy <= set(fragments), fragments
    assert page.evaluate("window.__shift") < 0.01
    for kind in BUILT_IN:
        assert page.locator(f".dd-t-{kind}").count() >= 1, kind
    assert page.locator(".dd-error").count() == 0
    charts = page.locator("svg.dd-chart[role=img]")
    assert charts.count() == 6  # line, area, bar, pie, donut, gauge
    shot = tmp_path / f"demo-{scheme}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert page.evaluate("window.__csp") == []
    assert problems == []
    page.close()


def test_live_updates_swap_widgets_in_place(dev: Dev, browser: Any) -> None:
    page = browser.new_page()
    page.goto(dev.site + "/", wait_until="networkidle")
    card = page.locator("#dd-widget-" + str(_widget_id(dev, "revenue")))
    before = int(card.get_attribute("data-data-version") or 0)
    page.evaluate("document.body.dataset.marker = 'same-page'")
    # The ticker of `dyndash dev` pushes new data every few seconds.
    deadline = time.monotonic() + 15
    while int(card.get_attribute("data-data-version") or 0) <= before:
        assert time.monotonic() < deadline, "no live update reached the page"
        page.wait_for_timeout(200)
    assert page.evaluate("document.body.dataset.marker") == "same-page"
    page.close()


def _widgets(dev: Dev) -> list[dict[str, Any]]:
    dashboards = dev.call("GET", "/api/v1/dashboards?limit=100")["items"]
    dashboard = next(d for d in dashboards if d["name"] == "sales-ops")
    path = f"/api/v1/dashboards/{dashboard['id']}/widgets?limit=100"
    return dev.call("GET", path)["items"]  # type: ignore[no-any-return]


def _widget_id(dev: Dev, key: str) -> int:
    return int(next(w["id"] for w in _widgets(dev) if w["key"] == key))


def _lazy_widget_ids(dev: Dev) -> list[int]:
    """The demo route renders priority 0 into the page (`inline_priority: 0`)."""
    return [int(w["id"]) for w in _widgets(dev) if w["priority"] > 0]


def test_embedding_is_allowed_for_listed_origins_only(dev: Dev, browser: Any) -> None:
    host_port = free_port()
    host = f"http://localhost:{host_port}"
    dashboards = dev.call("GET", "/api/v1/dashboards?limit=100")["items"]
    dashboard_id = next(d["id"] for d in dashboards if d["name"] == "sales-ops")
    for path, csp in (("/embed-ok", {"frame-ancestors": [host]}), ("/embed-no", {})):
        dev.call(
            "POST",
            "/api/v1/routes",
            {"path": path, "handler_config": {"dashboard_id": dashboard_id, "csp": csp}},
        )
    frames = (
        f'<iframe name="ok" src="{dev.site}/embed-ok"></iframe>'
        f'<iframe name="no" src="{dev.site}/embed-no"></iframe>'
    ).encode()

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(frames)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", host_port), Host)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(host + "/", wait_until="networkidle")
        allowed = page.frame(name="ok")
        refused = page.frame(name="no")
        assert allowed is not None
        assert refused is not None
        assert allowed.locator(".dd-grid").count() == 1
        assert refused.locator(".dd-grid").count() == 0
        page.close()
    finally:
        server.shutdown()
        server.server_close()
