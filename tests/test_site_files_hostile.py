"""Sites as code against hostile trees and hostile servers: links out of the site, YAML
that expands or nests without end, names no file system can hold, exports that must not
destroy what is not theirs, and escape sequences on the operator's terminal."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from dyndash.cli import main
from dyndash.sitefiles import SiteFileError, read_tree, write_tree
from dyndash.terminal import shown
from tests.conftest import Api
from tests.utils.backends import ADMIN_SECRET, snapshot
from tests.utils.sites import small_site

SECRET = "SECRET-OUTSIDE-THE-SITE aws_secret=abc123"
# The audit's string: conceal, an OSC 52 clipboard write, cursor up and erase line.
EVIL = (
    "ok\n\x1b[8m\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2A\x1b[2K\x1b[31m"
    "0 to create, 0 to update, 0 to delete\x1b[0m\x1b[8m"
)


async def dyndash(api: Api, *args: str) -> int:
    """The CLI in a thread: its client is synchronous, the server runs on this loop."""
    argv = [*args, "--server", api.base_url, "--key", ADMIN_SECRET]
    return await asyncio.to_thread(main, argv)


def files(root: Path) -> dict[str, bytes]:
    """Every file and link under `root` (links by their target), to show nothing changed."""
    found: dict[str, bytes] = {}
    for directory, folders, names in os.walk(root):
        for name in names + [f for f in folders if Path(directory, f).is_symlink()]:
            path = Path(directory, name)
            key = path.relative_to(root).as_posix()
            found[key] = (
                b"-> " + os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            )
    return found


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# M1: links out of the site directory.


async def test_plan_and_apply_refuse_every_link_in_the_site(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "run"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (outside / "leak.html").write_text(SECRET)
    (outside / "leak.yaml").write_text("description: x\n")
    (outside / "routes.yaml").write_text("routes: []\n")
    (outside / "board.yaml").write_text("title: x\n")
    before = await snapshot(api.backend.settings)
    cases: list[tuple[str, Path, str]] = [
        # An absolute link to a file outside, and a relative one climbing out.
        ("templates/pw.html", outside / "secret.txt", "templates/pw.html"),
        ("templates/leak.html", Path("../../run/secret.txt"), "templates/leak.html"),
        ("templates/deep/leak.html", Path("../../../run/secret.txt"), "templates/deep/leak.html"),
        # A linked folder: templates/ itself, and one inside it.
        ("templates", outside, "templates"),
        ("templates/partials", outside, "templates/partials"),
        ("dashboards", outside, "dashboards"),
        ("dashboards/board.yaml", outside / "board.yaml", "dashboards/board.yaml"),
        ("routes.yaml", outside / "routes.yaml", "routes.yaml"),
        # A link to a file inside the site is refused too: a link is never followed.
        ("templates/copy.html", Path("home.html"), "templates/copy.html"),
    ]
    for index, (link, target, named) in enumerate(cases):
        root = tmp_path / f"site{index}"
        write_tree(root, small_site())
        path = root / link
        if path.is_dir():
            for child in sorted(path.rglob("*"), reverse=True):
                child.unlink() if child.is_file() else child.rmdir()
            path.rmdir()
        else:
            path.unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        for command in (["plan", str(root)], ["apply", str(root), "--yes"]):
            assert await dyndash(api, *command) == 1, (link, command)
            captured = capsys.readouterr()
            line = one_error_line(captured.err)
            assert f"{named}: a symbolic link" in line, (link, line)
            assert SECRET not in captured.out + captured.err
    assert await snapshot(api.backend.settings) == before


def test_reading_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    write_tree(tmp_path, small_site())
    os.mkfifo(tmp_path / "templates" / "pipe.html")
    # A FIFO would block the read for ever; it is refused by what it is.
    with pytest.raises(SiteFileError, match=r"templates/pipe.html: not a regular file"):
        read_tree(tmp_path)


# L4: hostile YAML.


def _alias_bomb() -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 10):
        refs = ",".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "config:\n" + "".join(f"  {line}\n" for line in lines)


def test_the_alias_bomb_is_the_audits_size() -> None:
    assert len(_alias_bomb().encode()) < 600


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        pytest.param(_alias_bomb(), 3, "aliases (*name) are not allowed", id="alias-bomb"),
        pytest.param("config:\n  base: &b {x: 1}\n  copy: *b\n", 3, "aliases", id="alias"),
        pytest.param("config:\n  <<: *nothing\n", 2, "aliases", id="merge-key"),
        pytest.param("config:\n  blob: !!binary aGVsbG8=\n", 2, "binary", id="binary"),
        pytest.param("config:\n  tags: !!set {a, b}\n", 2, "set", id="set"),
        pytest.param("config:\n  when: !!timestamp 2024-01-01\n", 2, "timestamp", id="date"),
        pytest.param("config:\n  x: " + "[" * 3000 + "]" * 3000 + "\n", 2, "nested", id="deep"),
        pytest.param(
            "config:\n  x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", 2, "nested", id="deep-map"
        ),
    ],
)
async def test_hostile_yaml_is_one_line_naming_file_and_line(
    api: Api,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    line: int,
    fragment: str,
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    (root / "templates" / "home.yaml").write_text(text)
    before = await snapshot(api.backend.settings)
    assert await dyndash(api, "plan", str(root)) == 1
    error = one_error_line(capsys.readouterr().err)
    assert f"templates/home.yaml line {line}:" in error, error
    assert fragment in error, error
    assert await snapshot(api.backend.settings) == before


async def test_nesting_the_server_accepts_still_reads(api: Api, tmp_path: Path) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    (root / "templates" / "home.yaml").write_text("config:\n  x: " + "[" * 200 + "]" * 200 + "\n")
    bundle, _ = read_tree(root)
    home = next(t for t in bundle["templates"] if t["name"] == "home")
    depth, value = 0, home["config"]["x"]
    while value:
        depth, value = depth + 1, value[0]
    assert depth == 199


async def test_a_bundle_over_the_limit_is_refused_before_sending(
    api: Api,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site())
    monkeypatch.setenv("DYNDASH_MAX_BUNDLE_BYTES", "2048")
    (root / "templates" / "home.html").write_text("x" * 4096)
    before = await snapshot(api.backend.settings)
    assert await dyndash(api, "apply", str(root), "--yes") == 1
    error = one_error_line(capsys.readouterr().err)
    assert "over the server's limit of 2048" in error
    assert "DYNDASH_MAX_BUNDLE_BYTES" in error
    assert await snapshot(api.backend.settings) == before
    monkeypatch.delenv("DYNDASH_MAX_BUNDLE_BYTES")
    assert await dyndash(api, "plan", str(root)) == 2


async def test_an_unexpected_failure_is_one_line(
    api: Api,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(tmp_path / "site" / "routes.yaml"))

    root = tmp_path / "site"
    write_tree(root, small_site())
    monkeypatch.setattr("dyndash.sitecli.read_tree", broken)
    assert await dyndash(api, "plan", str(root)) == 1
    error = one_error_line(capsys.readouterr().err)
    assert error == f"error: {root / 'routes.yaml'}: Permission denied"

    def surprise(*_: Any, **__: Any) -> Any:
        raise TypeError("Object of type bytes is not JSON serializable")

    monkeypatch.setattr("dyndash.sitecli.read_tree", surprise)
    assert await dyndash(api, "plan", str(root), "--output", "json") == 1
    document = json.loads(capsys.readouterr().out)
    assert "TypeError" in document["error"]["message"]


# M4 and M2: exports that change only their own files, and names no file system can hold.


def _site_with(*names: str, dashboards: tuple[str, ...] = ()) -> dict[str, Any]:
    site = small_site()
    site["templates"] += [{"name": name, "html_content": f"<p>{name}</p>"} for name in names]
    site["dashboards"] += [{"name": name, "widgets": []} for name in dashboards]
    return site


async def test_export_keeps_what_is_not_the_sites_and_removes_only_stale_site_files(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await api.client.post("/api/v1/site/apply", json={"bundle": small_site()})
    assert response.status_code == 200, response.text
    root = tmp_path / "proj"
    (root / "templates" / ".git").mkdir(parents=True)
    (root / "templates" / "emails").mkdir()
    (root / "dashboards").mkdir()
    (root / "templates" / "emails" / "welcome.txt").write_text("mine")
    (root / "templates" / "NOTES.md").write_text("notes")
    (root / "templates" / ".git" / "config").write_text("[core]")
    (root / "dashboards" / ".gitkeep").write_text("keep")
    # Left by an earlier export of a template and a dashboard the server no longer has.
    (root / "templates" / "old").mkdir()
    (root / "templates" / "old" / "page.html").write_text("gone")
    (root / "templates" / "old" / "page.yaml").write_text("is_active: true\n")
    (root / "dashboards" / "retired.yaml").write_text("title: old\n")
    theirs = {k: v for k, v in files(root).items() if "old/" not in k and "retired" not in k}

    assert await dyndash(api, "export", str(root)) == 0
    captured = capsys.readouterr()
    after = files(root)
    for name, content in theirs.items():
        assert after[name] == content, name
    for gone in ("templates/old/page.html", "templates/old/page.yaml", "dashboards/retired.yaml"):
        assert gone not in after
    assert not (root / "templates" / "old").exists()
    assert "removed 3" in captured.out
    for kept in ("templates/.git", "templates/NOTES.md", "templates/emails/welcome.txt"):
        assert f"warning: {root / kept}: not part of the site" in captured.err
    assert f"warning: {root / 'dashboards' / '.gitkeep'}" in captured.err
    assert after["templates/home.html"] == small_site()["templates"][1]["html_content"].encode()
    # Nothing of the staging folder is left beside DIR.
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".proj")] == []


@pytest.mark.parametrize(
    ("site", "named"),
    [
        pytest.param(
            _site_with("x", "x.html/y"),
            ["template 'x'", "template 'x.html/y'"],
            id="file-vs-folder",
        ),
        pytest.param(
            _site_with("Report", "report"), ["template 'Report'", "template 'report'"], id="case"
        ),
        pytest.param(
            _site_with("Partials/a"),
            ["template 'Partials/a'", "template 'partials/header'"],
            id="folder-case",
        ),
        pytest.param(
            _site_with(dashboards=("Sales",)),
            ["dashboard 'Sales'", "dashboard 'sales'"],
            id="dashboard-case",
        ),
        pytest.param(
            _site_with("x/../y"), ["template 'x/../y'", "starting with '.'"], id="dot-dot"
        ),
        pytest.param(_site_with("x/.hidden"), ["template 'x/.hidden'"], id="dot-file"),
        pytest.param(_site_with("a//b"), ["template 'a//b'", "empty segment"], id="empty"),
        pytest.param(_site_with("a/"), ["template 'a/'"], id="trailing-slash"),
        pytest.param(_site_with("con"), ["template 'con'", "Windows reserves"], id="con"),
        pytest.param(_site_with("a/NUL.txt/b"), ["'NUL.txt'", "Windows reserves"], id="nul"),
        pytest.param(_site_with(dashboards=("COM1",)), ["dashboard 'COM1'", "Windows"], id="com1"),
        pytest.param(_site_with("what?"), ["template 'what?'", "'?'"], id="question"),
        pytest.param(_site_with('a"b'), ["'\"'", "Windows refuses"], id="quote"),
        pytest.param(_site_with("a\\b"), ["Windows refuses"], id="backslash"),
        pytest.param(
            _site_with("dot./x"), ["template 'dot./x'", "ending in '.'"], id="trailing-dot"
        ),
        pytest.param(_site_with("space /x"), ["ending in '.' or ' '"], id="trailing-space"),
    ],
)
def test_export_refuses_names_files_cannot_hold_before_writing(
    tmp_path: Path, site: dict[str, Any], named: list[str]
) -> None:
    root = tmp_path / "site"
    write_tree(root, small_site("earlier"))
    (root / "templates" / "NOTES.md").write_text("notes")
    before = files(root)
    with pytest.raises(SiteFileError) as refused:
        write_tree(root, site)
    for fragment in named:
        assert fragment in str(refused.value)
    assert files(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


@pytest.mark.parametrize("linked", ["templates", "dashboards", "templates/partials"])
async def test_export_refuses_a_linked_folder_and_writes_nothing(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str], linked: str
) -> None:
    response = await api.client.post("/api/v1/site/apply", json={"bundle": small_site()})
    assert response.status_code == 200, response.text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("keep")
    root = tmp_path / "site"
    (root / linked).parent.mkdir(parents=True, exist_ok=True)
    (root / linked).symlink_to(elsewhere)
    before, outside = files(root), files(elsewhere)
    assert await dyndash(api, "export", str(root)) == 1
    error = one_error_line(capsys.readouterr().err)
    assert f"{linked}: a symbolic link" in error
    assert files(root) == before
    assert files(elsewhere) == outside


def test_export_refuses_a_folder_where_it_writes_a_file(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "templates" / "home.html").mkdir(parents=True)
    (root / "templates" / "home.html" / "mine.txt").write_text("mine")
    before = files(root)
    with pytest.raises(SiteFileError, match=r"templates/home.html: is a folder"):
        write_tree(root, small_site())
    assert files(root) == before


def test_an_export_over_an_export_rewrites_it(tmp_path: Path) -> None:
    write_tree(tmp_path / "site", small_site("one"))
    written = write_tree(tmp_path / "site", small_site("two"))
    assert b"two" in (tmp_path / "site" / "templates" / "partials" / "header.html").read_bytes()
    assert written.removed == []
    assert sorted(p.relative_to(tmp_path / "site").as_posix() for p in written.files) == sorted(
        files(tmp_path / "site")
    )


# L3: escape sequences from the server.


def test_shown_makes_every_control_character_visible() -> None:
    assert shown(EVIL) == (
        "ok\n^[[8m^[]52;c;ZWNobyBwd25lZA==^G^[[2A^[[2K^[[31m"
        "0 to create, 0 to update, 0 to delete^[[0m^[[8m"
    )
    assert shown("tab\tnew\nline") == "tab\tnew\nline"
    assert shown("\x00\r\x7f\x9b\x85é€") == "^@^M^?\\x9b\\x85é€"


async def test_plan_and_apply_show_server_text_without_escape_sequences(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dashboard = await api.create_dashboard("board", title=EVIL, description=EVIL)
    widget = await api.client.post(
        f"/api/v1/dashboards/{dashboard['id']}/widgets",
        json={"key": "w", "title": EVIL, "type": "x\x1b[2Ky"},
    )
    assert widget.status_code == 201, widget.text
    await api.create_template("esc-demo", EVIL, description=EVIL)
    root = tmp_path / "site"
    clean = {
        "templates": [{"name": "esc-demo", "html_content": "clean", "description": "clean"}],
        "routes": [],
        "dashboards": [
            {"name": "board", "title": "clean", "widgets": [{"key": "w", "title": "clean"}]}
        ],
    }
    write_tree(root, clean)
    assert await dyndash(api, "plan", str(root)) == 2
    out = capsys.readouterr().out
    assert "0 to create, 0 to update, 0 to delete^[[0m" in out
    assert "^[]52;c;ZWNobyBwd25lZA==^G" in out
    for character in ("\x1b", "\x07", "\x9b"):
        assert character not in out
    assert await dyndash(api, "apply", str(root), "--yes") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "^[[2A" in out
