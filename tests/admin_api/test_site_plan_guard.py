"""What holds an apply to the plan that was shown (README, "Sites as code"): the plan's
`expected_versions` cover the whole site, a widget left out of its file goes only with prune,
templates compile before any lock, a fresh demo exports and plans as no change, and the
`site:plan` scope reads (dry run, export) without being able to write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dyndash.cli import main
from dyndash.demo import seed_demo
from dyndash_admin_api.app import create_app
from dyndash_admin_api.deps import get_render_pool
from dyndash_common.runtime import build_runtime
from dyndash_common.templating import LocalCompiler
from tests.conftest import Api
from tests.utils.backends import ADMIN_SECRET, Backend, snapshot
from tests.utils.server import serve
from tests.utils.sites import small_site

APPLY = "/api/v1/site/apply"
EXPORT = "/api/v1/site/export"
# Only a guard against waiting for ever on a push the apply blocks; nothing is measured.
DEADLOCK_GUARD_SECONDS = 30


async def _apply(api: Api, bundle: dict[str, Any], **params: Any) -> httpx.Response:
    body = {"bundle": bundle, **params.pop("body", {})}
    query = {k: str(v).lower() for k, v in params.items()}
    return await api.client.post(APPLY, json=body, params=query)


async def _by_hand(api: Api) -> dict[str, Any]:
    """A site written through the admin API, not yet managed by files."""
    template = await api.create_template("page", "<p>{{ title }}</p>")
    dashboard = await api.create_dashboard("demo", is_public=True)
    widget = await api.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={"key": "first", "type": "generic", "data": {"x": 0}},
    )
    assert widget.status_code == 201, widget.text
    route = await api.client.post(
        "/api/v1/routes", json={"path": "/page", "template_id": template["id"]}
    )
    assert route.status_code == 201, route.text
    return {"template": template, "dashboard": dashboard, "widget": widget.json()["data"]}


async def test_objects_created_after_the_plan_make_the_apply_409_and_nothing_goes(
    api: Api,
) -> None:
    """The audit's reproduction: the plan said `delete: 0`, so the apply deletes nothing."""
    site = await _by_hand(api)
    bundle = (await api.client.get(EXPORT)).json()["data"]
    plan = (await _apply(api, bundle, dry_run=True, prune=True)).json()["data"]
    assert plan["summary"]["delete"] == 0
    made = await api.create_template("made-after-plan", "<p>important work</p>")
    route = await api.client.post(
        "/api/v1/routes", json={"path": "/after-plan", "template_id": made["id"]}
    )
    assert route.status_code == 201, route.text
    widget = await api.client.post(
        f"/api/v1/dashboards/{site['dashboard']['id']}/widgets",
        json={"key": "added-after-plan", "type": "generic", "data": {"x": 1}},
    )
    assert widget.status_code == 201, widget.text
    before = await snapshot(api.backend.settings)
    response = await _apply(
        api, bundle, prune=True, body={"expected_versions": plan["expected_versions"]}
    )
    assert response.status_code == 409, response.text
    assert "the site changed since the plan" in response.json()["message"]
    stale = response.json()["data"]["details"]["stale"]
    assert stale == {
        "route:/after-plan": {"expected": 0, "current": 1},
        "template:made-after-plan": {"expected": 0, "current": 1},
        "widget:demo/added-after-plan": {"expected": 0, "current": 1},
    }
    assert await snapshot(api.backend.settings) == before
    history = await api.client.get(f"/api/v1/templates/{made['id']}/versions")
    assert history.status_code == 200, history.text


async def test_an_object_deleted_or_changed_outside_the_bundle_since_the_plan_is_409(
    api: Api,
) -> None:
    site = await _by_hand(api)
    stray = await api.create_template("stray")
    bundle = small_site()
    plan = (await _apply(api, bundle, dry_run=True)).json()["data"]
    # The plan fingerprints what it leaves alone too: the server's objects outside the bundle.
    assert plan["expected_versions"]["template:stray"] == 1
    assert plan["expected_versions"]["widget:demo/first"] == 1
    assert (await api.client.delete(f"/api/v1/templates/{stray['id']}")).status_code == 200
    moved = await api.client.put(f"/api/v1/widgets/{site['widget']['id']}", json={"title": "new"})
    assert moved.status_code == 200, moved.text
    before = await snapshot(api.backend.settings)
    response = await _apply(api, bundle, body={"expected_versions": plan["expected_versions"]})
    assert response.status_code == 409, response.text
    assert response.json()["data"]["details"]["stale"] == {
        "template:stray": {"expected": 1, "current": 0},
        "widget:demo/first": {"expected": 1, "current": 2},
    }
    assert await snapshot(api.backend.settings) == before
    # The plan made now holds: the same apply with it goes through.
    again = (await _apply(api, bundle, dry_run=True)).json()["data"]
    applied = await _apply(api, bundle, body={"expected_versions": again["expected_versions"]})
    assert applied.status_code == 200, applied.text
    assert applied.json()["data"]["applied"] is True
    # An apply answers the fingerprint its plan was held to, not the versions it wrote.
    changed = small_site("v2")
    third = (await _apply(api, changed, dry_run=True)).json()["data"]
    written = await _apply(api, changed, body={"expected_versions": third["expected_versions"]})
    assert written.status_code == 200, written.text
    assert written.json()["data"]["expected_versions"] == third["expected_versions"]
    assert third["expected_versions"]["template:partials/header"] == 1


async def test_a_widget_left_out_of_its_file_goes_only_with_prune(api: Api) -> None:
    assert (await _apply(api, small_site())).status_code == 200
    dashboard = (await api.client.get("/api/v1/dashboards")).json()["data"]["items"][0]
    extra = await api.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={"key": "extra", "type": "generic", "data": {"x": 1}},
        params={"force": "true"},
    )
    assert extra.status_code == 201, extra.text
    plan = (await _apply(api, small_site(), dry_run=True)).json()["data"]
    assert plan["summary"]["delete"] == 0
    assert "widget:sales/extra" in plan["expected_versions"]
    result = await _apply(api, small_site(), body={"expected_versions": plan["expected_versions"]})
    assert result.status_code == 200, result.text
    assert result.json()["data"]["summary"]["delete"] == 0
    widgets = (await api.client.get(f"/api/v1/dashboards/{dashboard['id']}/widgets")).json()
    assert "extra" in [w["key"] for w in widgets["data"]["items"]]

    pruning = (await _apply(api, small_site(), dry_run=True, prune=True)).json()["data"]
    deleted = [(c["kind"], c["name"]) for c in pruning["changes"] if c["action"] == "delete"]
    assert deleted == [("widget", "sales/extra")]
    pruned = await _apply(
        api, small_site(), prune=True, body={"expected_versions": pruning["expected_versions"]}
    )
    assert pruned.status_code == 200, pruned.text
    widgets = (await api.client.get(f"/api/v1/dashboards/{dashboard['id']}/widgets")).json()
    assert "extra" not in [w["key"] for w in widgets["data"]["items"]]


async def test_the_cli_applies_with_the_expected_versions_of_the_plan_it_printed(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A colleague's template made while the operator reads `apply --prune`'s plan stays."""
    await api.create_template("kept", "<p>before</p>")
    root = tmp_path / "site"
    argv = ["--server", api.base_url, "--key", ADMIN_SECRET]
    assert await asyncio.to_thread(main, ["export", str(root), *argv]) == 0
    (root / "templates" / "kept.html").write_text("<p>after</p>")

    def colleague_works_then_yes() -> bool:
        with httpx.Client(base_url=api.base_url, headers={"X-API-Key": ADMIN_SECRET}) as client:
            made = client.post(
                "/api/v1/templates", json={"name": "made-while-reading", "html_content": "x"}
            )
            assert made.status_code == 201, made.text
        return True

    monkeypatch.setattr("dyndash.sitecli._confirm", colleague_works_then_yes)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["apply", str(root), "--prune", *argv])
    assert code == 1
    err = capsys.readouterr().err
    assert "409" in err
    assert "template:made-while-reading" in err
    names = [t["name"] for t in (await api.client.get("/api/v1/templates")).json()["data"]["items"]]
    assert sorted(names) == ["kept", "made-while-reading"]


class HeldCompiler:
    """Compiles as the admin API does; once `holding`, the first compile waits until the test
    lets it go."""

    def __init__(self) -> None:
        self.compiler = LocalCompiler()
        self.holding = False
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def references(self, source: str, *, field: str = "html_content") -> list[str]:
        if self.holding and not self.entered.is_set():
            self.entered.set()
            await self.release.wait()
        return await self.compiler.references(source, field=field)


async def _held_api(backend: Backend, compiler: HeldCompiler) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(backend.settings)
    app.dependency_overrides[get_render_pool] = lambda: compiler
    async with (
        serve(app, backend.settings) as base_url,
        httpx.AsyncClient(
            base_url=base_url, headers={"X-API-Key": ADMIN_SECRET}, timeout=60
        ) as client,
    ):
        yield client


async def test_a_data_push_is_not_blocked_while_an_apply_compiles(backend: Backend) -> None:
    compiler = HeldCompiler()
    async for client in _held_api(backend, compiler):
        assert (await client.post(APPLY, json={"bundle": small_site()})).status_code == 200
        compiler.holding = True
        widget = (await client.get("/api/v1/dashboards/1/widgets")).json()["data"]["items"][0]
        changed = small_site("v2")
        changed["templates"].append({"name": "new-page", "html_content": "<p>{{ x }}</p>"})
        apply = asyncio.create_task(client.post(APPLY, json={"bundle": changed}))
        await compiler.entered.wait()
        push = asyncio.create_task(
            client.post(f"/api/v1/data/widget/{widget['id']}", json={"data": {"value": 7}})
        )
        done, _ = await asyncio.wait({push, apply}, timeout=DEADLOCK_GUARD_SECONDS)
        compiler.release.set()
        applied = await apply
        pushed = await push
        assert done == {push}, "the data push waited for the apply's compile"
        assert pushed.status_code == 200, pushed.text
        assert applied.status_code == 200, applied.text
        assert applied.json()["data"]["summary"]["create"] == 1


async def _seeded(backend: Backend) -> None:
    runtime = build_runtime(backend.settings)
    try:
        assert await seed_demo(runtime)
    finally:
        await runtime.close()


async def test_a_fresh_demo_exports_and_plans_as_no_change(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await _seeded(api.backend)
    root = tmp_path / "site"
    argv = ["--server", api.base_url, "--key", ADMIN_SECRET]
    assert await asyncio.to_thread(main, ["export", str(root), *argv]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["plan", str(root), *argv]) == 0
    out = capsys.readouterr().out
    assert "0 to create, 0 to update, 0 to delete" in out
    bundle = (await api.client.get(EXPORT)).json()["data"]
    plan = (await _apply(api, bundle, dry_run=True)).json()["data"]
    actions = {c["action"] for c in plan["changes"]}
    # Taking ownership of what the demo wrote by hand is a note, not a change.
    assert actions == {"adopt"}, plan["changes"]

    before = await snapshot(api.backend.settings)
    assert await asyncio.to_thread(main, ["apply", str(root), "--yes", *argv]) == 0
    assert "nothing to change" in capsys.readouterr().out
    assert await snapshot(api.backend.settings) == before

    assert await asyncio.to_thread(main, ["apply", str(root), "--yes", "--adopt", *argv]) == 0
    after = await snapshot(api.backend.settings)
    for table in ("templates", "routes", "dashboards", "widgets"):
        assert {row["managed_by"] for row in after[table]} == {"files"}, table
        assert [row["version"] for row in after[table]] == [
            row["version"] for row in before[table]
        ], table
    # Ownership is the admin API's bookkeeping, no content: followers have nothing to install.
    assert after["events"] == before["events"]
    assert after["template_versions"] == before["template_versions"]


async def test_adoption_goes_with_the_next_apply_that_changes_something(api: Api) -> None:
    await api.create_template("partials/header", "<h1>v1</h1>")
    plan = (await _apply(api, small_site(), dry_run=True)).json()["data"]
    header = next(c for c in plan["changes"] if c["name"] == "partials/header")
    assert header["action"] == "adopt"
    result = (await _apply(api, small_site())).json()["data"]
    assert result["applied"] is True
    row = (await api.client.get("/api/v1/templates/1")).json()["data"]
    assert (row["managed_by"], row["version"]) == ("files", 1)


async def test_a_site_plan_key_plans_and_exports_but_cannot_apply(api: Api) -> None:
    await api.create_template("stray")
    planner = await api.create_key("site:plan")
    reader = await api.create_key("events:read")
    applier = await api.create_key("site:apply")
    as_planner = {"X-API-Key": planner}
    body = {"bundle": small_site()}

    dry = await api.client.post(APPLY, json=body, params={"dry_run": "true"}, headers=as_planner)
    assert dry.status_code == 200, dry.text
    assert (await api.client.get(EXPORT, headers=as_planner)).status_code == 200
    before = await snapshot(api.backend.settings)
    for prune in ("false", "true"):
        real = await api.client.post(APPLY, json=body, params={"prune": prune}, headers=as_planner)
        assert real.status_code == 403, real.text
        assert "site:apply" in real.json()["message"]
    assert await snapshot(api.backend.settings) == before

    as_reader = {"X-API-Key": reader}
    refused = await api.client.get(EXPORT, headers=as_reader)
    assert refused.status_code == 403, refused.text
    assert "site:plan" in refused.json()["message"]
    dry = await api.client.post(APPLY, json=body, params={"dry_run": "true"}, headers=as_reader)
    assert dry.status_code == 403, dry.text
    assert "site:plan" in dry.json()["message"]

    as_applier = {"X-API-Key": applier}
    assert (await api.client.get(EXPORT, headers=as_applier)).status_code == 200
    dry = await api.client.post(APPLY, json=body, params={"dry_run": "true"}, headers=as_applier)
    assert dry.status_code == 200, dry.text
    assert (await api.client.post(APPLY, json=body, headers=as_applier)).status_code == 200


async def test_the_scope_lists_name_site_plan(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    scopes = document["components"]["schemas"]["KeyCreate"]["properties"]["scopes"]
    assert "site:plan" in scopes["items"]["enum"]
    unknown = await api.client.post("/api/v1/keys", json={"name": "x", "scopes": ["site:read"]})
    assert unknown.status_code == 422
    assert "site:plan" in unknown.json()["data"]["details"]["allowed"]


def test_the_ci_example_gives_pull_requests_only_the_plan_key() -> None:
    """A pull request runs its own branch's workflow file: the write key must not reach it."""
    text = (Path(__file__).parents[2] / "examples" / "github-actions-site.yml").read_text()
    workflow = yaml.safe_load(text)
    assert "env" not in workflow, "secrets set for the whole workflow reach pull requests"
    plan, apply = workflow["jobs"]["plan"], workflow["jobs"]["apply"]
    assert "pull_request" in plan["if"]
    assert "environment" not in plan
    assert plan["env"]["DYNDASH_API_KEY"] == "${{ secrets.DYNDASH_PLAN_KEY }}"
    assert "refs/heads/main" in apply["if"]
    assert apply["environment"] == "production"
    assert apply["env"]["DYNDASH_API_KEY"] == "${{ secrets.DYNDASH_APPLY_KEY }}"
    assert "--scope site:plan" in text
