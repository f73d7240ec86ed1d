"""A site as files: the tree `dyndash export` writes and `dyndash plan|apply` read (README,
"Sites as code").

    templates/<name>.html   the template's text exactly as stored (no newline added)
    templates/<name>.css    its CSS, when not empty; .js likewise
    templates/<name>.yaml   description, config, is_active (always written)
    routes.yaml             every route: path, template, dashboard, method, handler_config, …
    dashboards/<name>.yaml  the dashboard with its widgets, their config and their data

A `/` in a template name nests directories. YAML files have sorted keys and a trailing
newline, lists are in a stable order, and nothing of the server's bookkeeping (ids, versions,
timestamps, `managed_by`) is written, so a tree applies to any server and an export of a site
at rest is byte-identical to the one before.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_DEFAULTS: dict[str, Any] = {"description": None, "config": {}, "is_active": True}
TEMPLATE_META = tuple(TEMPLATE_DEFAULTS)
TEMPLATE_TEXT = {".html": "html_content", ".css": "css_content", ".js": "js_content"}
_TEXT_FILES = {field: suffix for suffix, field in TEMPLATE_TEXT.items()}
ROUTES_FILE = "routes.yaml"
ROUTE_KEYS = frozenset({"path", "template", "dashboard", "method", "handler_config", "is_active"})
DASHBOARD_KEYS = frozenset({"title", "description", "is_public", "widgets"})
WIDGET_KEYS = frozenset({"key", "title", "type", "config", "data", "position", "priority"})
# The server stores JSON nested at most 255 levels; a file holds a few more around it.
MAX_NESTING = 300
# A whole bundle may be 32 MiB (DYNDASH_MAX_BUNDLE_BYTES), so no one file is larger.
MAX_FILE_BYTES = 32 * 1024 * 1024


class _Loader(yaml.SafeLoader):
    """YAML as JSON sees it: `2024-01-01` stays a string (PyYAML would make it a date, which
    no JSON document can hold), and a key given twice is an error (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # An alias is a shared reference: 500 bytes of them expand to gigabytes once the
        # bundle is sent as JSON (README, "Sites as code"), so site files spell values out.
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed in site files; write the value out",
                mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_NESTING} levels", mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _not_json(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None,
        None,
        f"the tag {node.tag} holds no JSON value; write a string, number, list or mapping",
        node.start_mark,
    )


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# Values JSON cannot carry (bytes, sets, dates, ordered pairs) are refused where they stand.
for _tag in ("binary", "set", "timestamp", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _not_json)


class SiteFileError(Exception):
    """A file of the tree is not what the layout expects; names the file and, where known,
    the line."""

    def __init__(self, file: str, message: str, line: int | None = None) -> None:
        where = f"{file} line {line}" if line else file
        super().__init__(f"{where}: {message}")
        self.file = file
        self.line = line


@dataclass
class Sources:
    """Where each entry of a bundle came from, to name the file (and line) of an error the
    server reports by its place in the bundle (`bundle.routes.3.path`)."""

    templates: list[str] = field(default_factory=list)
    routes: list[int] = field(default_factory=list)
    dashboards: list[str] = field(default_factory=list)
    widgets: list[list[int]] = field(default_factory=list)

    def locate(self, location: str) -> str | None:
        """The file (and line) behind `bundle.<list>.<index>…`, or None."""
        parts = location.split(".")
        if parts and parts[0] == "bundle":
            parts = parts[1:]
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        index = int(parts[1])
        try:
            if parts[0] == "templates":
                suffix = _TEXT_FILES.get(parts[2] if len(parts) > 2 else "html_content", ".yaml")
                return self.templates[index] + suffix
            if parts[0] == "routes":
                return f"{ROUTES_FILE} line {self.routes[index]}"
            if parts[0] == "dashboards":
                if len(parts) >= 4 and parts[2] == "widgets" and parts[3].isdigit():
                    line = self.widgets[index][int(parts[3])]
                    return f"{self.dashboards[index]} line {line}"
                return self.dashboards[index]
        except IndexError:
            return None
        return None


def _dump(document: Any) -> str:
    return yaml.safe_dump(
        document, sort_keys=True, allow_unicode=True, default_flow_style=False, width=100
    )


# Device names Windows reserves in any folder and with any extension (`con.html` too).
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", *(f"{port}{n}" for port in ("COM", "LPT") for n in range(10))}
)
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*\\') | {chr(code) for code in range(32)}


def _unportable(segment: str) -> str | None:
    """Why `segment` cannot be a file or folder name on every system a site repository is
    checked out on (Linux, macOS, Windows), or None."""
    if segment == "" or segment.startswith("."):
        return "an empty segment or one starting with '.' (reading skips dot files)"
    bad = sorted(set(segment) & _WINDOWS_FORBIDDEN)
    if bad:
        return f"the character(s) {' '.join(repr(c) for c in bad)}, which Windows refuses"
    if segment.endswith((".", " ")):
        return "a segment ending in '.' or ' ', which Windows drops"
    if segment.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        return f"'{segment}', a device name Windows reserves"
    return None


@dataclass
class Exported:
    """What `write_tree` did: the files it wrote, the earlier export's files it removed (the
    server no longer has their object), and what it found under the layout that is not the
    site's and left alone."""

    files: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    foreign: list[Path] = field(default_factory=list)


def _layout(bundle: dict[str, Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each object of `bundle` (`template 'home'`) with the files it becomes: their path
    under the root and their text."""
    objects: list[tuple[str, list[tuple[str, str]]]] = []
    for template in sorted(bundle.get("templates", []), key=lambda t: str(t["name"])):
        name = str(template["name"])
        files = []
        for suffix, key in TEMPLATE_TEXT.items():
            text = template.get(key) or ""
            if suffix == ".html" or text:
                files.append((f"templates/{name}{suffix}", text))
        meta = {key: template.get(key, default) for key, default in TEMPLATE_DEFAULTS.items()}
        files.append((f"templates/{name}.yaml", _dump(meta)))
        objects.append((f"template '{name}'", files))
    routes = []
    for route in sorted(bundle.get("routes", []), key=lambda r: str(r["path"])):
        entry = {k: v for k, v in route.items() if k in ROUTE_KEYS}
        # Absent, not null: a route with no template renders the built-in dashboard layout.
        for optional in ("dashboard", "template"):
            if entry.get(optional) is None:
                entry.pop(optional, None)
        routes.append(entry)
    objects.append(("the routes", [(ROUTES_FILE, _dump({"routes": routes}))]))
    for dashboard in sorted(bundle.get("dashboards", []), key=lambda d: str(d["name"])):
        document = {k: v for k, v in dashboard.items() if k in DASHBOARD_KEYS}
        document["widgets"] = sorted(
            ({k: v for k, v in w.items() if k in WIDGET_KEYS} for w in dashboard["widgets"]),
            key=lambda w: str(w["key"]),
        )
        name = str(dashboard["name"])
        objects.append((f"dashboard '{name}'", [(f"dashboards/{name}.yaml", _dump(document))]))
    return objects


def _check_names(objects: list[tuple[str, list[tuple[str, str]]]]) -> None:
    """Refuse, before anything is written, a name no file can hold and two objects whose files
    would be one on a case-insensitive file system (macOS, Windows) or where one needs a file
    and the other a folder of the same name (`x` → `x.html`, `x.html/y`)."""
    files: dict[str, tuple[str, str]] = {}
    folders: dict[str, tuple[str, str]] = {}
    for owner, paths in objects:
        for path, _ in paths:
            segments = path.split("/")
            for segment in [*segments[1:-1], segments[-1].rsplit(".", 1)[0]]:
                reason = _unportable(segment)
                if reason:
                    raise SiteFileError(
                        path,
                        f"{owner} cannot be laid out as files: {reason}; rename it "
                        "through the admin API",
                    )
            for depth in range(1, len(segments)):
                folder = "/".join(segments[:depth])
                spelled, other = folders.setdefault(folder.casefold(), (folder, owner))
                if spelled != folder:
                    raise SiteFileError(
                        path,
                        f"{owner} and {other} differ only in case ('{folder}', "
                        f"'{spelled}'), one folder on macOS and Windows; rename one",
                    )
            key = path.casefold()
            if key in files:
                raise SiteFileError(
                    path,
                    f"{owner} and {files[key][1]} differ only in case ('{path}', "
                    f"'{files[key][0]}'), one file on macOS and Windows; rename one",
                )
            files[key] = (path, owner)
    for key, (path, owner) in files.items():
        if key in folders:
            raise SiteFileError(
                path,
                f"{owner} needs the file '{path}', and {folders[key][1]} a folder of that "
                "name; rename one",
            )


def _is_layout_file(relative: str) -> bool:
    """A file reading takes as part of the site (so an export may replace or remove it)."""
    parts = relative.split("/")
    if any(part.startswith(".") for part in parts):
        return False
    if parts == [ROUTES_FILE]:
        return True
    suffix = Path(relative).suffix
    if parts[0] == "templates" and len(parts) > 1:
        return suffix in (*TEMPLATE_TEXT, ".yaml")
    return parts[0] == "dashboards" and len(parts) == 2 and suffix == ".yaml"


def _existing(root: Path) -> tuple[list[str], list[Path]]:
    """The layout files under `root` now, and everything else under templates/ and
    dashboards/ (a dot folder as one entry), neither following a link."""
    layout: list[str] = []
    foreign: list[Path] = []
    if (root / ROUTES_FILE).is_file() and not (root / ROUTES_FILE).is_symlink():
        layout.append(ROUTES_FILE)

    def visit(directory: Path) -> None:
        for path in sorted(directory.iterdir()):
            relative = path.relative_to(root).as_posix()
            if path.is_dir() and not path.is_symlink() and not path.name.startswith("."):
                visit(path)
            elif path.is_file() and not path.is_symlink() and _is_layout_file(relative):
                layout.append(relative)
            else:
                foreign.append(path)

    for folder in ("templates", "dashboards"):
        if (root / folder).is_dir() and not (root / folder).is_symlink():
            visit(root / folder)
    return layout, foreign


def _check_targets(root: Path, paths: list[str]) -> None:
    """Refuse a link or a wrong kind of entry where the export would write (writing through a
    link would write outside DIR), before anything is written."""
    checked: set[str] = set()
    for path in ["templates/", "dashboards/", *paths]:
        segments = [s for s in path.split("/") if s]
        for depth in range(1, len(segments) + 1):
            relative = "/".join(segments[:depth])
            if relative in checked:
                continue
            checked.add(relative)
            target = root / relative
            is_file = depth == len(segments) and not path.endswith("/")
            if target.is_symlink():
                raise SiteFileError(
                    relative, "a symbolic link; export writes only regular files in DIR"
                )
            if target.exists() and target.is_dir() == is_file:
                kind = "a folder" if is_file else "a file"
                raise SiteFileError(relative, f"is {kind}; export needs the other here")


def write_tree(
    root: Path, bundle: dict[str, Any], done: Callable[[], None] | None = None
) -> Exported:
    """Write `bundle` (as `GET /api/v1/site/export` returns it) under `root`, replacing what
    an earlier export wrote there; `done` is called once per object written (a progress
    display). The whole tree is written beside `root` first and only then moved in, file by
    file, so a refused or failed export leaves `root` as it was; files that are not the
    site's are left alone (README, "Sites as code")."""
    tick = done or (lambda: None)
    objects = _layout(bundle)
    _check_names(objects)
    paths = [path for _, files in objects for path, _ in files]
    if root.exists() and not root.is_dir():
        raise SiteFileError(str(root), "not a directory")
    if root.is_dir():
        _check_targets(root, paths)
        layout, foreign = _existing(root)
    else:
        layout, foreign = [], []
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.resolve().name}.export-", dir=root.parent))
    try:
        for _, files in objects:
            for path, text in files:
                staged = staging / path
                staged.parent.mkdir(parents=True, exist_ok=True)
                # Bytes, so no platform newline translation touches the template's text.
                staged.write_bytes(text.encode())
            tick()
        result = Exported(foreign=foreign)
        for path in paths:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / path, target)
            result.files.append(target)
        _remove_stale(root, layout, result)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _remove_stale(root: Path, layout: list[str], result: Exported) -> None:
    """Remove the layout files the export did not write (their object is gone), and the
    folders that leaves empty."""
    for relative in layout:
        stale = root / relative
        # On a case-insensitive file system `Report.html` may be the `report.html` just written.
        if stale in result.files or any(stale.samefile(f) for f in result.files):
            continue
        stale.unlink()
        result.removed.append(stale)
        folder = stale.parent
        while folder != root and folder.parent != root and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent


def _checked(path: Path, root: Path) -> str:
    """The file's name under `root`, once it is known to be a regular file of the tree: a
    link (to a file or a folder) could make a plan print, and an apply publish, any file the
    machine holds (README, "Security: what is enforced where")."""
    name = path.relative_to(root).as_posix()
    if path.is_symlink():
        raise SiteFileError(name, "a symbolic link; site files must be regular files in DIR")
    if not path.resolve().is_relative_to(root.resolve()):
        raise SiteFileError(name, "resolves outside DIR; site files must be regular files in DIR")
    if not path.is_file():
        raise SiteFileError(name, "not a regular file")
    return name


def _read_bytes(path: Path, root: Path) -> bytes:
    name = _checked(path, root)
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SiteFileError(name, f"{size} bytes; a site file holds at most {MAX_FILE_BYTES}")
    return path.read_bytes()


def _load(path: Path, root: Path) -> tuple[Any, yaml.Node | None]:
    name = path.relative_to(root).as_posix()
    try:
        text = _read_bytes(path, root).decode("utf-8")
    except UnicodeDecodeError as error:
        raise SiteFileError(name, f"not UTF-8 text ({error.reason})") from None
    try:
        return yaml.load(text, Loader=_Loader), yaml.compose(text, Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error)
        line = mark.line + 1 if mark is not None else None
        raise SiteFileError(name, f"invalid YAML: {problem}", line) from None


def _item_lines(node: yaml.Node | None, key: str | None = None) -> list[int]:
    """The line of each item of the list at `key` of a mapping node (or of the node)."""
    if key is not None and isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


def _mapping(value: Any, file: str, allowed: frozenset[str], line: int | None = None) -> None:
    if not isinstance(value, dict):
        raise SiteFileError(file, "expected a mapping of fields", line)
    unknown = sorted(str(k) for k in set(value) - allowed)
    if unknown:
        raise SiteFileError(
            file,
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}",
            line,
        )


def read_tree(root: Path) -> tuple[dict[str, Any], Sources]:
    """The bundle the tree under `root` holds, and where each entry came from. Refuses files
    outside the layout, invalid YAML and wrong shapes, naming the file and line."""
    if not root.is_dir():
        raise SiteFileError(str(root), "not a directory")
    sources = Sources()
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.name not in ("templates", "dashboards", ROUTES_FILE):
            raise SiteFileError(
                entry.name,
                "outside the site layout (templates/, dashboards/, routes.yaml)",
            )
        if entry.is_symlink():
            raise SiteFileError(
                entry.name, "a symbolic link; site files must be regular files in DIR"
            )
    templates = _read_templates(root, sources)
    routes: list[Any] = []
    if (root / ROUTES_FILE).exists():
        document, node = _load(root / ROUTES_FILE, root)
        if document is None:
            document = {"routes": []}
        _mapping(document, ROUTES_FILE, frozenset({"routes"}))
        routes = document.get("routes") or []
        if not isinstance(routes, list):
            raise SiteFileError(ROUTES_FILE, "`routes` must be a list")
        sources.routes = _item_lines(node, "routes")
        for index, route in enumerate(routes):
            _mapping(route, ROUTES_FILE, ROUTE_KEYS, sources.routes[index])
    dashboards = _read_dashboards(root, sources)
    return {"templates": templates, "routes": routes, "dashboards": dashboards}, sources


def _read_templates(root: Path, sources: Sources) -> list[dict[str, Any]]:
    directory = root / "templates"
    found: dict[str, dict[str, Any]] = {}
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise SiteFileError("templates", "not a directory")
    for path in _walk(directory, root):
        relative = path.relative_to(directory).as_posix()
        file = f"templates/{relative}"
        suffix = path.suffix
        name = relative[: -len(suffix)] if suffix else relative
        if suffix not in (*TEMPLATE_TEXT, ".yaml") or not name:
            raise SiteFileError(file, "outside the site layout (.html, .css, .js or .yaml)")
        template = found.setdefault(name, {"name": name})
        if suffix == ".yaml":
            meta, _ = _load(path, root)
            meta = {} if meta is None else meta
            _mapping(meta, file, frozenset(TEMPLATE_META))
            template.update(meta)
        else:
            try:
                template[TEMPLATE_TEXT[suffix]] = _read_bytes(path, root).decode("utf-8")
            except UnicodeDecodeError as error:
                raise SiteFileError(file, f"not UTF-8 text ({error.reason})") from None
    for name, template in sorted(found.items()):
        if "html_content" not in template:
            raise SiteFileError(f"templates/{name}.yaml", f"templates/{name}.html is missing")
        sources.templates.append(f"templates/{name}")
    return [template for _, template in sorted(found.items())]


def _walk(directory: Path, root: Path) -> list[Path]:
    """Every file under `directory` but dot files and dot folders (which reading skips),
    sorted; refuses a link to a file or a folder rather than following it."""
    files: list[Path] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_symlink():
            _checked(path, root)
        if path.is_dir():
            files.extend(_walk(path, root))
        else:
            files.append(path)
    return files


def _read_dashboards(root: Path, sources: Sources) -> list[dict[str, Any]]:
    directory = root / "dashboards"
    if not directory.exists():
        return []
    if not directory.is_dir():
        raise SiteFileError("dashboards", "not a directory")
    dashboards = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        file = f"dashboards/{path.name}"
        if path.is_symlink():
            _checked(path, root)
        if not path.is_file() or path.suffix != ".yaml":
            raise SiteFileError(file, "outside the site layout (dashboards/<name>.yaml)")
        document, node = _load(path, root)
        document = {} if document is None else document
        _mapping(document, file, DASHBOARD_KEYS)
        widgets = document.get("widgets") or []
        if not isinstance(widgets, list):
            raise SiteFileError(file, "`widgets` must be a list")
        lines = _item_lines(node, "widgets")
        for index, widget in enumerate(widgets):
            _mapping(widget, file, WIDGET_KEYS, lines[index])
        sources.dashboards.append(file)
        sources.widgets.append(lines)
        dashboards.append({"name": path.stem, **document, "widgets": widgets})
    return dashboards
