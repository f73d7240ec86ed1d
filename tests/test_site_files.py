"""Sites as code end to end: `dyndash export|plan|apply` over HTTP, the file layout, the round
trip between two servers, and the CLI's exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dyndash.cli import main
from dyndash.sitefiles import SiteFileError, read_tree, write_tree
from tests.conftest import Api, start_api
from tests.utils.backends import ADMIN_SECRET, snapshot, sqlite_backend
from tests.utils.sites import small_site


async def dyndash(api: Api, *args: str) -> int:
    """The CLI in a thread: its client is synchronous, the server runs on this loop."""
    argv = [*args, "--server", api.base_url, "--key", ADMIN_SECRET]
    return await asyncio.to_thread(main, argv)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_round_trip_is_byte_identical(api: Api, tmp_path: Path) -> None:
    site = small_site()
    site["templates"][1]["html_content"] += "\n\n  trailing  \n"
    site["templates"][0]["js_content"] = "console.log(1)"
    site["dashboards"][0]["widgets"][1]["data"] = {"when": "2024-01-01", "flag": "yes", "n": 1.5}
    # The built-in layout: a route with a dashboard and no template.
    site["routes"].append({"path": "/board", "dashboard": "sales"})
    response = await api.client.post("/api/v1/site/apply", json={"bundle": site})
    assert response.status_code == 200, response.text
    first, again = tmp_path / "first", tmp_path / "again"
    assert await dyndash(api, "export", str(first)) == 0
    assert await dyndash(api, "export", str(again)) == 0
    assert tree(first) == tree(again)
    files = tree(first)
    assert sorted(files) == [
        "dashboards/sales.yaml",
        "routes.yaml",
        "templates/home.css",
        "templates/home.html",
        "templates/home.yaml",
        "templates/partials/header.html",
        "templates/partials/header.js",
        "templates/partials/header.yaml",
    ]
    assert files["templates/home.html"] == site["templates"][1]["html_content"].encode()
    assert b"version" not in files["routes.yaml"]
    assert b"template: null" not in files["routes.yaml"]
    assert b"id:" not in files["dashboards/sales.yaml"]
    assert b"managed_by" not in b"".join(files.values())
    assert all(files[name].endswith(b"\n") for name in files if name.endswith(".yaml"))

    (tmp_path / "fresh").mkdir()
    fresh = await sqlite_backend(tmp_path / "fresh")
    async for other in start_api(fresh):
        assert await dyndash(other, "plan", str(first)) == 2
        assert await dyndash(other, "apply", str(first), "--yes") == 0
        assert await dyndash(other, "plan", str(first)) == 0
        second = tmp_path / "second"
        assert await dyndash(other, "export", str(second)) == 0
    assert tree(second) == tree(first)


async def test_plan_and_apply_exit_codes_and_output(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    assert await dyndash(api, "plan", str(root)) == 2
    out = capsys.readouterr().out
    assert "+ template home: create" in out
    assert "7 to create" in out
    assert await dyndash(api, "apply", str(root), "--yes") == 0
    out = capsys.readouterr().out
    assert "created template home: new → v1" in out
    assert await dyndash(api, "plan", str(root)) == 0
    assert "0 to create, 0 to update" in capsys.readouterr().out

    (root / "templates" / "partials" / "header.html").write_text("<h1>v2</h1>")
    assert await dyndash(api, "plan", str(root), "--output", "json") == 2
    plan = json.loads(capsys.readouterr().out)
    assert plan["summary"]["update"] == 1
    assert plan["expected_versions"]["template:partials/header"] == 1
    # Without --yes and without a terminal, apply asks nobody and refuses.
    assert await dyndash(api, "apply", str(root)) == 1
    assert "--yes" in capsys.readouterr().err
    assert await dyndash(api, "apply", str(root), "--yes", "--output", "json") == 0
    result = json.loads(capsys.readouterr().out)["result"]
    header = next(c for c in result["changes"] if c["name"] == "partials/header")
    assert header["new_version"] == 2


async def test_bad_files_are_clear_errors_and_change_nothing(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    before = await snapshot(api.backend.settings)

    (root / "notes.txt").write_text("hello")
    assert await dyndash(api, "plan", str(root)) == 1
    assert "notes.txt: outside the site layout" in capsys.readouterr().err
    (root / "notes.txt").unlink()

    (root / "templates" / "logo.png").write_bytes(b"\x89PNG")
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    assert "templates/logo.png: outside the site layout" in capsys.readouterr().err
    (root / "templates" / "logo.png").unlink()

    routes = (root / "routes.yaml").read_text()
    (root / "routes.yaml").write_text(routes + "  - path: [unclosed\n")
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    err = capsys.readouterr().err
    assert "routes.yaml line" in err
    assert "invalid YAML" in err
    (root / "routes.yaml").write_text(routes)

    (root / "templates" / "home.html").write_text("line one\n{% for %}\n")
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    err = capsys.readouterr().err
    assert "templates/home.html" in err
    assert "line 2" in err
    write_tree(root, small_site())

    (root / "routes.yaml").write_text(routes.replace("template: home", "template: ghost", 1))
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    assert "template 'ghost'" in capsys.readouterr().err
    write_tree(root, small_site())

    (root / "routes.yaml").write_text(routes.replace("path: /sales", "path: /api/sales"))
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    err = capsys.readouterr().err
    assert "routes.yaml line" in err
    assert "reserved prefix '/api'" in err
    write_tree(root, small_site())

    header = root / "templates" / "partials" / "header.html"
    header.write_text('{% include "home" %}')
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    assert "include cycle" in capsys.readouterr().err
    assert await snapshot(api.backend.settings) == before


async def test_connection_options_and_errors(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    monkeypatch.delenv("DYNDASH_API_KEY", raising=False)
    argv = ["plan", str(root), "--server", api.base_url]
    assert await asyncio.to_thread(main, argv) == 1
    assert "no API key" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*argv, "--key", "ddk_wrong"]) == 1
    assert "401" in capsys.readouterr().err
    monkeypatch.setenv("DYNDASH_SERVER", api.base_url)
    monkeypatch.setenv("DYNDASH_API_KEY", ADMIN_SECRET)
    assert await asyncio.to_thread(main, ["plan", str(root)]) == 2


def test_reading_refuses_what_the_layout_does_not_hold(tmp_path: Path) -> None:
    write_tree(tmp_path, small_site())
    (tmp_path / "templates" / "orphan.css").write_text("p {}")
    with pytest.raises(SiteFileError, match=r"templates/orphan.html is missing"):
        read_tree(tmp_path)
    (tmp_path / "templates" / "orphan.css").unlink()
    (tmp_path / "dashboards" / "sales.yaml").write_text("title: x\nsurprise: 1\n")
    with pytest.raises(SiteFileError, match=r"dashboards/sales.yaml: unknown field\(s\) surprise"):
        read_tree(tmp_path)
    (tmp_path / "dashboards" / "sales.yaml").write_text("title: x\nis_public: true\ntitle: y\n")
    with pytest.raises(
        SiteFileError, match=r"dashboards/sales.yaml line 3: .*'title' appears twice"
    ):
        read_tree(tmp_path)
    for name in ("a/../b", "a/.hidden", "a//b"):
        with pytest.raises(SiteFileError, match="cannot be laid out"):
            write_tree(tmp_path / "x", {"templates": [{"name": name, "html_content": ""}]})


async def test_prune_through_the_cli(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    assert await dyndash(api, "apply", str(root), "--yes") == 0
    smaller = small_site()
    smaller["routes"] = smaller["routes"][:1]
    smaller["dashboards"] = []
    write_tree(root, smaller)
    capsys.readouterr()
    # Without --prune, objects the files lack are left alone.
    assert await dyndash(api, "plan", str(root)) == 0
    assert await dyndash(api, "plan", str(root), "--prune") == 2
    assert "- dashboard sales v1: delete" in capsys.readouterr().out
    assert await dyndash(api, "apply", str(root), "--prune", "--yes") == 0
    out = capsys.readouterr().out
    assert "deleted dashboard sales: v1 → deleted" in out
    assert "deleted route /sales/{region}: v1 → deleted" in out
    exported = tmp_path / "exported"
    assert await dyndash(api, "export", str(exported)) == 0
    # The export spells out defaults the hand-written files left out; the same files remain.
    assert sorted(tree(exported)) == sorted(tree(root))
