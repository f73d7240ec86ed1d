"""The admin web UI's budgets (README, "Admin web UI"):

  initial JS   gzip size of what /admin/ loads before any screen needs the editor (≤ 300 KB)
  interactive  from navigation to the templates screen usable, signed in (≤ 1 s, localhost)
  typing       long tasks (over 50 ms) while typing into a 2,000-line template (none)
  preview      the first preview after start-up against the next ones (the render pool is warm)

One `dyndash admin` process on the embedded default (a throwaway SQLite file), Debian's
chromium through Playwright (DEVELOPERS.md).

    uv run python -m bench.admin_ui [--loads 5]
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from bench.harness import ROOT, free_port, process
from tests.ui.browser import CHROMIUM
from tests.utils.backends import ADMIN_SECRET, TEST_PEPPER

BUNDLE = ROOT / "ui" / "dist"
LINES = 2000
TYPED = "abcdefghij" * 10


def initial_js_gzip() -> int:
    index = (BUNDLE / "index.html").read_text()
    files = re.findall(r'(?:src|href)="/admin/(assets/[^"]+\.js)"', index)
    return sum(len(gzip.compress((BUNDLE / f).read_bytes(), 9)) for f in files)


def first_and_next_previews(base: str, count: int = 10) -> tuple[float, list[float]]:
    """The process's first request (sign-in's GET: database connection, key check), then
    previews: the first of them against the next ones."""
    timings: list[float] = []
    with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_SECRET}, timeout=10) as api:
        started = time.perf_counter()
        assert api.get("/api/v1/templates", params={"limit": 1}).status_code == 200
        first_request = (time.perf_counter() - started) * 1000
        for n in range(count):
            started = time.perf_counter()
            answer = api.post(
                "/api/v1/templates/preview", json={"html_content": f"<p>{{{{ {n} }}}}</p>"}
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
    return first_request, timings


def big_template(base: str) -> int:
    html = "\n".join(f'<p class="row-{n}">Row {n}: {{{{ title }}}}</p>' for n in range(LINES))
    with httpx.Client(base_url=base, headers={"X-API-Key": ADMIN_SECRET}, timeout=30) as api:
        answer = api.post("/api/v1/templates", json={"name": "big", "html_content": html})
        assert answer.status_code == 201, answer.text
        return int(answer.json()["data"]["id"])


def interactive(page: Page, base: str, loads: int) -> None:
    timings: list[float] = []
    for _ in range(loads):
        started = time.perf_counter()
        page.goto(f"{base}/admin/templates")
        page.get_by_role("link", name="big", exact=True).wait_for()
        timings.append((time.perf_counter() - started) * 1000)
    print(
        f"/admin/ interactive (templates listed): median {statistics.median(timings):.0f} ms, "
        f"max {max(timings):.0f} ms over {loads} loads (budget 1000 ms)"
    )


def typing(page: Page, base: str, template_id: int) -> None:
    page.goto(f"{base}/admin/templates/{template_id}")
    editor = page.get_by_label("HTML", exact=True)
    editor.wait_for()
    preview = page.get_by_role("region", name="Preview").get_by_role("status")
    expect(preview).to_have_text(re.compile("Preview of|could not"), timeout=30_000)
    print(f"the {LINES}-line template's preview: {preview.inner_text()}")
    page.wait_for_timeout(1000)  # the screen settled: history, preview frame
    editor.click()
    for _ in range(40):  # halfway down the document, by pages
        page.keyboard.press("PageDown")
    page.wait_for_timeout(500)
    page.evaluate(
        "window.__long = []; new PerformanceObserver(list => window.__long.push("
        "...list.getEntries().map(e => e.duration))).observe({type: 'longtask'})"
    )
    started = time.perf_counter()
    page.keyboard.type(TYPED, delay=20)
    seconds = time.perf_counter() - started
    page.wait_for_timeout(1000)  # the debounced preview of the last keystroke
    long_tasks: list[float] = page.evaluate("window.__long")
    print(
        f"typing {len(TYPED)} characters into a {LINES}-line template in {seconds:.1f} s: "
        f"{len(long_tasks)} long tasks, longest {max(long_tasks, default=0):.0f} ms "
        "(budget: none over 50 ms)"
    )


def start_admin(directory: str, port: int) -> AbstractContextManager[object]:
    env = {
        "DATABASE_URL": f"sqlite:///{Path(directory) / 'bench.db'}",
        "REDIS_URL": "",
        "DYNDASH_KEY_PEPPER": TEST_PEPPER,
        "DYNDASH_BOOTSTRAP_API_KEY": ADMIN_SECRET,
        "DYNDASH_RATE_LIMIT_REQUESTS": "1000000",
        "DYNDASH_LOG_LEVEL": "WARNING",
        "DYNDASH_METRICS_PORT": "0",
    }
    migrate = [sys.executable, "-m", "dyndash.cli", "migrate"]
    subprocess.run(migrate, env={**os.environ, **env}, cwd=ROOT, check=True, capture_output=True)
    command = [sys.executable, "-m", "dyndash.cli", "admin", "--port", str(port)]
    return process(command, env, f"http://127.0.0.1:{port}/healthz")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    if not (BUNDLE / "index.html").is_file():
        sys.exit("the admin UI is not built: make sync (needs Node.js and npm)")
    print(f"initial JS: {initial_js_gzip() / 1024:.1f} KB gzip (budget 300 KB)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as directory, start_admin(directory, port):
        first_request, previews = first_and_next_previews(base)
        rest = statistics.median(previews[1:])
        print(
            f"first request after start-up (sign-in's GET) {first_request:.1f} ms; then "
            f"preview: first {previews[0]:.1f} ms, next ones median {rest:.1f} ms "
            f"(first/next {previews[0] / rest:.2f})"
        )
        template_id = big_template(base)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context()
            context.add_init_script(f"sessionStorage.setItem('dyndash.apiKey', {ADMIN_SECRET!r})")
            page = context.new_page()
            interactive(page, base, args.loads)
            typing(page, base, template_id)
            browser.close()


if __name__ == "__main__":
    main()
