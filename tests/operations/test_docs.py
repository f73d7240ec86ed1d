"""The documentation site builds with --strict, and it has a page for everything that links to it.

The build is the one `make docs` runs, into a temporary directory. Every alert's runbook_url
must be a page of the built site, and the generated API reference must name every operation of
both OpenAPI documents (README "Documentation").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.api_reference import (
    ADMIN_PAGE,
    GATEWAY_PAGE,
    openapi_documents,
    operations,
    render_runbooks_index,
    runbook_source,
)

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"


def mkdocs_command() -> str:
    beside_python = Path(sys.executable).parent / "mkdocs"
    found = str(beside_python) if beside_python.exists() else shutil.which("mkdocs")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("mkdocs is not installed; CI requires it (uv sync)", pytrace=False)
        pytest.skip("mkdocs is not installed (uv sync installs the dev group)")
    return found


def site_url() -> str:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    url: str = config["site_url"]
    return url


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [mkdocs_command(), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def page_html(site: Path, source: str) -> str:
    """The HTML of the page built from docs/<source> (use_directory_urls)."""
    stem = source.removesuffix(".md")
    directory = site if stem == "index" else site / stem.removesuffix("/index")
    return (directory / "index.html").read_text()


def alert_rules() -> list[dict[str, Any]]:
    assert ALERTS.exists(), f"{ALERTS.relative_to(ROOT)} is missing"
    document = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"] if "alert" in rule]
    assert rules, "no alert rules"
    return rules


def test_the_site_builds_with_every_guide(built_site: Path) -> None:
    for source in (
        "index.md",
        "quickstart.md",
        "guides/templates.md",
        "guides/widgets.md",
        "guides/sites-as-code.md",
        "guides/admin-ui.md",
        "reference/index.md",
        "operators/ecs.md",
        "operators/scaling.md",
        "operators/settings.md",
        "operators/security.md",
        "benchmarks.md",
    ):
        assert "<h1" in page_html(built_site, source), source
    # Files kept outside docs/ are included, not linked: the ECS guide and the bench table.
    assert "Rolling deploy" in page_html(built_site, "operators/ecs.md")
    assert "bench.event_latency" in page_html(built_site, "benchmarks.md")
    # Nothing is built into the checkout.
    assert not (ROOT / "docs" / "reference" / "admin-api.md").exists()


def test_every_alert_links_to_a_runbook_page_of_the_site(built_site: Path) -> None:
    url = site_url()
    for rule in alert_rules():
        runbook_url = rule.get("annotations", {}).get("runbook_url", "")
        assert runbook_url.startswith(url), (rule["alert"], runbook_url)
        path = runbook_url.removeprefix(url).split("#", 1)[0].strip("/")
        assert path.startswith("runbooks/"), (rule["alert"], runbook_url)
        page = built_site / path / "index.html"
        assert page.is_file(), f"{rule['alert']}: {runbook_url} is not a page of the site"
        assert "<h1" in page.read_text(), (rule["alert"], page)


def test_the_runbooks_section_lists_every_alert(built_site: Path) -> None:
    html = page_html(built_site, "runbooks/index.md")
    for rule in alert_rules():
        assert rule["alert"] in html, rule["alert"]


def test_the_api_reference_has_every_operation(built_site: Path) -> None:
    documents = openapi_documents()
    for page in (ADMIN_PAGE, GATEWAY_PAGE):
        html = page_html(built_site, page.path)
        ids = [operation["operationId"] for _, _, operation in operations(documents[page])]
        assert ids, page.path
        for operation_id in ids:
            # Each operation is its own heading, linkable by its id.
            assert f'id="{operation_id}"' in html, (page.path, operation_id)


def test_a_runbook_url_maps_to_its_source_page() -> None:
    url = "https://docs.dyndash.example/"
    assert runbook_source(url + "runbooks/outbox-backlog/", url) == "runbooks/outbox-backlog.md"
    assert runbook_source(url + "runbooks/x/#confirm", url) == "runbooks/x.md"
    with pytest.raises(ValueError, match="not on the site"):
        runbook_source("https://elsewhere.example/runbooks/x/", url)


def test_the_generated_runbooks_index_links_each_alert() -> None:
    url = "https://docs.dyndash.example/"
    rules = [
        {
            "alert": "OutboxBacklog",
            "labels": {"severity": "page"},
            "annotations": {"summary": "a | b", "runbook_url": url + "runbooks/outbox-backlog/"},
        }
    ]
    index = render_runbooks_index(rules, url)
    assert "| [OutboxBacklog](outbox-backlog.md) | page | a \\| b |" in index
    assert "No alert rules" in render_runbooks_index([], url)
