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

import shutil
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


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


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


def _template_path(root: Path, name: str) -> Path:
    segments = name.split("/")
    # Empty and dot segments have no file of their own, and dot files are skipped on reading.
    if any(segment == "" or segment.startswith(".") for segment in segments):
        raise SiteFileError(
            f"templates/{name}",
            "this template name cannot be laid out as files (an empty segment or one starting "
            "with '.'); rename it through the admin API",
        )
    return root.joinpath("templates", *segments)


def write_tree(
    root: Path, bundle: dict[str, Any], done: Callable[[], None] | None = None
) -> list[Path]:
    """Write `bundle` (as `GET /api/v1/site/export` returns it) under `root`, replacing what
    an earlier export wrote there; the files written, in order. `done` is called once per
    object written (a progress display)."""
    tick = done or (lambda: None)
    for stale in (root / "templates", root / "dashboards"):
        if stale.is_dir():
            shutil.rmtree(stale)
    (root / ROUTES_FILE).unlink(missing_ok=True)
    written: list[Path] = []

    def put(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Bytes, so no platform newline translation touches the template's text.
        path.write_bytes(text.encode())
        written.append(path)

    for template in sorted(bundle.get("templates", []), key=lambda t: str(t["name"])):
        base = _template_path(root, str(template["name"]))
        for suffix, key in TEMPLATE_TEXT.items():
            text = template.get(key) or ""
            if suffix == ".html" or text:
                put(base.with_name(base.name + suffix), text)
        meta = {key: template.get(key, default) for key, default in TEMPLATE_DEFAULTS.items()}
        put(base.with_name(base.name + ".yaml"), _dump(meta))
        tick()
    routes = []
    for route in sorted(bundle.get("routes", []), key=lambda r: str(r["path"])):
        entry = {k: v for k, v in route.items() if k in ROUTE_KEYS}
        # Absent, not null: a route with no template renders the built-in dashboard layout.
        for optional in ("dashboard", "template"):
            if entry.get(optional) is None:
                entry.pop(optional, None)
        routes.append(entry)
        tick()
    put(root / ROUTES_FILE, _dump({"routes": routes}))
    for dashboard in sorted(bundle.get("dashboards", []), key=lambda d: str(d["name"])):
        document = {k: v for k, v in dashboard.items() if k in DASHBOARD_KEYS}
        document["widgets"] = sorted(
            ({k: v for k, v in w.items() if k in WIDGET_KEYS} for w in dashboard["widgets"]),
            key=lambda w: str(w["key"]),
        )
        put(root / "dashboards" / f"{dashboard['name']}.yaml", _dump(document))
        tick()
    return written


def _load(path: Path, root: Path) -> tuple[Any, yaml.Node | None]:
    name = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
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
    templates = _read_templates(root, sources)
    routes: list[Any] = []
    if (root / ROUTES_FILE).is_file():
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
    if not directory.is_dir():
        return []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        file = f"templates/{relative}"
        if any(part.startswith(".") for part in path.relative_to(directory).parts):
            continue
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
                template[TEMPLATE_TEXT[suffix]] = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError as error:
                raise SiteFileError(file, f"not UTF-8 text ({error.reason})") from None
    for name, template in sorted(found.items()):
        if "html_content" not in template:
            raise SiteFileError(f"templates/{name}.yaml", f"templates/{name}.html is missing")
        sources.templates.append(f"templates/{name}")
    return [template for _, template in sorted(found.items())]


def _read_dashboards(root: Path, sources: Sources) -> list[dict[str, Any]]:
    directory = root / "dashboards"
    if not directory.is_dir():
        return []
    dashboards = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith("."):
            continue
        file = f"dashboards/{path.name}"
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
