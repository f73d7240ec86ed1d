"""A site apply's plan: the server's objects against a bundle, validated as a whole.

What the plan checks, before anything is written (README, "Sites as code"): every template
compiles (an error names its file and line), every include, route and widget names a template
or dashboard that will exist, the include graph of the whole site has no cycle, route paths
follow the route rules (the bundle's schema), no public route shows a private dashboard, and
no name or path appears twice.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dyndash_admin_api.operations.common import same_value
from dyndash_admin_api.operations.dashboards import check_widget
from dyndash_admin_api.schemas.routes import HandlerConfig
from dyndash_admin_api.schemas.site import (
    Bundle,
    DashboardSpec,
    RouteSpec,
    TemplateSpec,
    WidgetSpec,
)
from dyndash_common.db import Dashboard, Database, Route, Template, Widget
from dyndash_common.errors import Conflict, TemplateInvalid, ValidationFailed
from dyndash_common.site import find_cycle
from dyndash_common.templating import TemplateCompiler

FILES = "files"
TEMPLATE_FIELDS = (
    "description",
    "html_content",
    "css_content",
    "js_content",
    "config",
    "is_active",
)
ROUTE_FIELDS = ("template", "dashboard", "method", "handler_config", "is_active")
DASHBOARD_FIELDS = ("title", "description", "is_public")
WIDGET_FIELDS = ("title", "type", "config", "data", "position", "priority")
# Where each field lives in the files, for the diff's labels.
_TEMPLATE_FILES = {"html_content": ".html", "css_content": ".css", "js_content": ".js"}
# The actions that write content; an adoption alone only marks ownership (README, "Sites as
# code": a note, taken by the next apply that changes something, or by `adopt=true`).
CHANGES = ("create", "update", "delete")
# How many moved objects a 409's message names; `details.stale` lists them all.
STALE_NAMED = 5


@dataclass
class Current:
    """The server's site, read (and on PostgreSQL locked) in the apply's transaction."""

    templates: dict[str, Template]
    routes: dict[str, Route]
    dashboards: dict[str, Dashboard]
    widgets: dict[tuple[str, str], Widget]

    @property
    def template_names(self) -> dict[int, str]:
        return {row.id: name for name, row in self.templates.items()}

    @property
    def dashboard_names(self) -> dict[int, str]:
        return {row.id: name for name, row in self.dashboards.items()}


@dataclass
class Step:
    """One object's fate: its action, the fields it sets, and the row it has now."""

    kind: str
    name: str
    action: str
    row: Any
    fields: dict[str, Any] = field(default_factory=dict)
    diff: str = ""
    new_version: int | None = None
    # The version the plan saw (None: absent); the row's own moves once the apply writes it.
    version: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.version = None if self.row is None else int(self.row.version)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"

    def public(self, *, written: bool) -> dict[str, Any]:
        """As the API answers it; once `written`, an unchanged object's version is its new one
        and a deleted one has none."""
        if written and self.new_version is None and self.action == "unchanged":
            self.new_version = self.version
        return {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "version": self.version,
            "new_version": self.new_version,
            "fields": sorted(self.fields) if self.action in ("create", "update") else [],
            "diff": self.diff,
        }


@dataclass
class Plan:
    prune: bool
    steps: list[Step]
    # Template name → the names it includes, for the bundle's templates.
    references: dict[str, list[str]]
    current: Current
    # Taken when the plan is made: the rows' own versions move once the apply writes them.
    seen: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        current = self.current
        seen = {f"template:{name}": row.version for name, row in current.templates.items()}
        seen |= {f"route:{path}": row.version for path, row in current.routes.items()}
        seen |= {f"dashboard:{name}": row.version for name, row in current.dashboards.items()}
        seen |= {
            f"widget:{dashboard}/{key}": row.version
            for (dashboard, key), row in current.widgets.items()
        }
        self.seen = {step.key: 0 for step in self.steps} | {
            key: int(version) for key, version in seen.items()
        }

    def expected_versions(self) -> dict[str, int]:
        """The fingerprint of the site the plan saw: every object of every kind on the server
        (those the bundle leaves alone too), and 0 for each the bundle would create. An apply
        held to it writes nothing the plan did not show."""
        return dict(self.seen)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(("create", "update", "delete", "unchanged", "adopt"), 0)
        for step in self.steps:
            counts[step.action] += 1
        return counts

    @property
    def changes_anything(self) -> bool:
        return any(step.action in CHANGES for step in self.steps)

    @property
    def adopts_anything(self) -> bool:
        return any(step.action == "adopt" for step in self.steps)


async def load_current(session: AsyncSession, *, lock: bool) -> Current:
    def query(model: Any) -> Any:
        # Row locks on PostgreSQL, so no admin API write slips in between plan and commit.
        return select(model).with_for_update() if lock else select(model)

    templates = (await session.execute(query(Template))).scalars().all()
    routes = (await session.execute(query(Route))).scalars().all()
    dashboards = (await session.execute(query(Dashboard))).scalars().all()
    widgets = (await session.execute(query(Widget))).scalars().all()
    names = {row.id: row.name for row in dashboards}
    return Current(
        templates={row.name: row for row in templates},
        routes={row.path: row for row in routes},
        dashboards={row.name: row for row in dashboards},
        widgets={(names[row.dashboard_id], row.key): row for row in widgets},
    )


def _text(value: Any) -> list[str]:
    if value is None:
        return []
    # JSON one key per line, so the diff points at what changed.
    text = value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True) + "\n"
    return text.splitlines(keepends=True)


def unified_diff(label: str, old: dict[str, Any], new: dict[str, Any], keys: Iterable[str]) -> str:
    """One unified diff per changed field: template text as it is, the rest as JSON."""
    parts: list[str] = []
    for key in keys:
        suffix = _TEMPLATE_FILES.get(key) if label.startswith("templates/") else None
        name = label + suffix if suffix else f"{label}:{key}"
        lines = difflib.unified_diff(
            _text(old.get(key)), _text(new.get(key)), f"a/{name}", f"b/{name}"
        )
        text = "".join(
            line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
            for line in lines
        )
        parts.append(text)
    return "".join(parts)


def _step(
    kind: str, name: str, label: str, row: Any, current: dict[str, Any], desired: dict[str, Any]
) -> Step:
    if row is None:
        return Step(kind, name, "create", None, desired, unified_diff(label, {}, desired, desired))
    changed = {k: v for k, v in desired.items() if not same_value(current.get(k), v)}
    if changed:
        return Step(
            kind, name, "update", row, changed, unified_diff(label, current, desired, changed)
        )
    return Step(kind, name, "adopt" if row.managed_by != FILES else "unchanged", row)


def _check_widget_data(dashboard: str, widget: WidgetSpec) -> None:
    """The checks of the admin API's widget writes (README, "Widgets"), naming the file."""
    try:
        check_widget(widget.type, widget.config, widget.data)
    except ValidationFailed as error:
        details = error.details if isinstance(error.details, dict) else {}
        raise ValidationFailed(
            f"dashboards/{dashboard}.yaml: widget '{widget.key}': {error.message}",
            details={**details, "file": f"dashboards/{dashboard}.yaml", "widget": widget.key},
        ) from None


def _no_duplicates(kind: str, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValidationFailed(
                f"{where}: {kind} '{name}' appears twice", details={"duplicate": name}
            )
        seen.add(name)


def _no_case_twins(kind: str, names: list[str], existing: Collection[str], prune: bool) -> None:
    """No two names of the site after the apply differ only in case: they would be one file
    in an export on macOS and Windows (README, "Sites as code"), as on a single write."""
    final: dict[str, str] = {}
    for name in names:
        twin = final.setdefault(name.lower(), name)
        if twin != name:
            raise ValidationFailed(
                f"{kind}s '{twin}' and '{name}' differ only in case; rename one",
                details={"duplicate": name},
            )
    # Only a name the apply adds is held to this: a pair stored before the rule stays applyable.
    stored = {} if prune else {name.lower(): name for name in existing}
    for name in names:
        twin = stored.get(name.lower(), name)
        if name not in existing and twin != name:
            raise Conflict(
                f"a {kind} named '{twin}' already exists; '{name}' differs from it only in "
                "case (rename it, or apply with --prune to replace it)",
                details={"existing": twin},
            )


def route_fields(row: Route, current: Current) -> dict[str, Any]:
    config = {k: v for k, v in (row.handler_config or {}).items() if k != "dashboard_id"}
    return {
        "template": current.template_names.get(row.template_id) if row.template_id else None,
        "dashboard": current.dashboard_names.get(row.dashboard_id) if row.dashboard_id else None,
        "method": row.method,
        "handler_config": config,
        "is_active": row.is_active,
    }


def _normalised_config(config: dict[str, Any]) -> dict[str, Any]:
    """A stored handler_config as the schema reads it, so one written before a field existed
    (its default now implied) equals the files' full form; one the schema refuses stays as
    stored and shows as changed."""
    try:
        normal = HandlerConfig.model_validate(config).model_dump()
    except ValidationError:
        return config
    normal.pop("dashboard_id", None)
    return normal


def _route_desired(spec: RouteSpec) -> dict[str, Any]:
    config = spec.handler_config.model_dump()
    config.pop("dashboard_id", None)
    return {
        "template": spec.template,
        "dashboard": spec.dashboard,
        "method": spec.method,
        "handler_config": config,
        "is_active": spec.is_active,
    }


def _check_names(bundle: Bundle) -> None:
    _no_duplicates("template", [t.name for t in bundle.templates], "templates/")
    _no_duplicates("route", [r.path for r in bundle.routes], "routes.yaml")
    _no_duplicates("dashboard", [d.name for d in bundle.dashboards], "dashboards/")
    for spec in bundle.dashboards:
        _no_duplicates("widget", [w.key for w in spec.widgets], f"dashboards/{spec.name}.yaml")


async def compile_bundle(
    database: Database, bundle: Bundle, compiler: TemplateCompiler
) -> dict[str, list[str]]:
    """The references of every bundle template, compiling only text the server does not hold.

    Runs before the apply takes any lock, in no transaction: compiling a big bundle takes
    seconds, and no admin write or data push should wait for it. The references depend on the
    bundle's text alone, so the plan made under the locks reuses them as they are.
    """
    _check_names(bundle)
    async with database.read() as session:
        rows = await session.execute(
            select(Template.name, Template.html_content, Template.dependencies)
        )
        stored = {name: (html, list(dependencies)) for name, html, dependencies in rows}
    references: dict[str, list[str]] = {}
    pending: list[TemplateSpec] = []
    for spec in bundle.templates:
        html, dependencies = stored.get(spec.name, (None, []))
        if html == spec.html_content:
            references[spec.name] = dependencies
        else:
            pending.append(spec)
    results = await asyncio.gather(
        *(compiler.references(s.html_content, field=f"templates/{s.name}.html") for s in pending),
        return_exceptions=True,
    )
    for spec, result in zip(pending, results, strict=True):
        if isinstance(result, BaseException):
            if isinstance(result, TemplateInvalid):
                details = result.details if isinstance(result.details, dict) else {}
                raise TemplateInvalid(
                    result.message, details={**details, "file": f"templates/{spec.name}.html"}
                )
            raise result
        references[spec.name] = result
    return references


def _check_graph(graph: dict[str, list[str]], bundle_names: list[str]) -> None:
    for name in bundle_names:
        unknown = sorted(set(graph[name]) - set(graph))
        if unknown:
            raise TemplateInvalid(
                f"templates/{name}.html: includes unknown template(s) {', '.join(unknown)}",
                details={"file": f"templates/{name}.html", "unknown_templates": unknown},
            )
    cycle = find_cycle(graph)
    if cycle:
        files = sorted({f"templates/{name}.html" for name in cycle})
        raise TemplateInvalid(
            f"include cycle {' → '.join(cycle)} ({', '.join(files)})",
            details={"cycle": cycle, "files": files},
        )


async def make_plan(
    session: AsyncSession,
    bundle: Bundle,
    *,
    prune: bool,
    references: dict[str, list[str]],
    lock: bool,
) -> Plan:
    """Validate `bundle` against the server's site and say what applying it would do.

    `references` are `compile_bundle`'s: nothing compiles here, so under `lock` the rows are
    held only for the checks, which take no await but the reads.
    """
    _check_names(bundle)
    current = await load_current(session, lock=lock)
    in_bundle = {t.name for t in bundle.templates}
    graph = {
        name: list(row.dependencies)
        for name, row in current.templates.items()
        if not prune and name not in in_bundle
    }
    graph.update(references)
    _check_graph(graph, [t.name for t in bundle.templates])
    _no_case_twins("template", [t.name for t in bundle.templates], current.templates, prune)
    _no_case_twins("dashboard", [d.name for d in bundle.dashboards], current.dashboards, prune)
    steps = _template_steps(bundle, current, prune)
    dashboards = _final_dashboards(bundle.dashboards, current, prune)
    steps += _dashboard_steps(bundle.dashboards, current, prune, set(graph))
    steps += _route_steps(bundle, current, prune, set(graph), dashboards)
    return Plan(prune, steps, references, current)


def _template_steps(bundle: Bundle, current: Current, prune: bool) -> list[Step]:
    steps = []
    for spec in bundle.templates:
        row = current.templates.get(spec.name)
        desired = spec.model_dump(exclude={"name"})
        now = {k: getattr(row, k) for k in TEMPLATE_FIELDS} if row is not None else {}
        steps.append(_step("template", spec.name, f"templates/{spec.name}", row, now, desired))
    if prune:
        in_bundle = {t.name for t in bundle.templates}
        steps += [
            Step("template", name, "delete", row)
            for name, row in sorted(current.templates.items())
            if name not in in_bundle
        ]
    return steps


def _final_dashboards(specs: list[DashboardSpec], current: Current, prune: bool) -> dict[str, bool]:
    """Each dashboard after the apply, with whether it is public."""
    final = {} if prune else {name: row.is_public for name, row in current.dashboards.items()}
    final.update({spec.name: spec.is_public for spec in specs})
    return final


def _dashboard_steps(
    specs: list[DashboardSpec], current: Current, prune: bool, templates: set[str]
) -> list[Step]:
    steps = []
    for spec in specs:
        row = current.dashboards.get(spec.name)
        desired = spec.model_dump(include=set(DASHBOARD_FIELDS))
        now = {k: getattr(row, k) for k in DASHBOARD_FIELDS} if row is not None else {}
        steps.append(_step("dashboard", spec.name, f"dashboards/{spec.name}", row, now, desired))
        keys = set()
        for place, widget in enumerate(spec.widgets):
            keys.add(widget.key)
            name = f"{spec.name}/{widget.key}"
            template = widget.config.get("template")
            if "template" in widget.config and (
                not isinstance(template, str) or template not in templates
            ):
                raise ValidationFailed(
                    f"dashboards/{spec.name}.yaml: widget '{widget.key}' config.template "
                    f"{template!r} names no template of the site",
                    details={"file": f"dashboards/{spec.name}.yaml", "widget": widget.key},
                )
            _check_widget_data(spec.name, widget)
            existing = current.widgets.get((spec.name, widget.key))
            desired = widget.model_dump(exclude={"key"})
            if desired["position"] is None:
                desired["position"] = place
            now = {k: getattr(existing, k) for k in WIDGET_FIELDS} if existing is not None else {}
            steps.append(_step("widget", name, f"dashboards/{spec.name}", existing, now, desired))
        # A widget missing from its dashboard's file goes only with prune, like any object
        # the files lack; without it, it is left alone (and in the plan's fingerprint).
        if prune:
            steps += [
                Step("widget", f"{spec.name}/{key}", "delete", row)
                for (dashboard, key), row in sorted(current.widgets.items())
                if dashboard == spec.name and key not in keys
            ]
    if prune:
        in_bundle = {spec.name for spec in specs}
        steps += [
            Step("dashboard", name, "delete", row)
            for name, row in sorted(current.dashboards.items())
            if name not in in_bundle
        ]
    return steps


def _route_steps(
    bundle: Bundle,
    current: Current,
    prune: bool,
    templates: set[str],
    dashboards: dict[str, bool],
) -> list[Step]:
    steps = []
    shown: dict[str, bool] = {}
    for spec in bundle.routes:
        where = f"routes.yaml: route '{spec.path}'"
        if spec.template is not None and spec.template not in templates:
            raise ValidationFailed(
                f"{where} names template '{spec.template}', which the site does not have",
                details={"file": "routes.yaml", "path": spec.path, "field": "template"},
            )
        if spec.dashboard is not None:
            if spec.dashboard not in dashboards:
                raise ValidationFailed(
                    f"{where} names dashboard '{spec.dashboard}', which the site does not have",
                    details={"file": "routes.yaml", "path": spec.path, "field": "dashboard"},
                )
            shown[spec.path] = spec.handler_config.auth == "public"
            if shown[spec.path] and not dashboards[spec.dashboard]:
                raise ValidationFailed(
                    f"{where} is public but dashboard '{spec.dashboard}' is not: give the route "
                    "handler_config.auth 'api_key' or make the dashboard public",
                    details={"file": "routes.yaml", "path": spec.path, "field": "handler_config"},
                )
        row = current.routes.get(spec.path)
        now = route_fields(row, current) if row is not None else {}
        if now:
            now["handler_config"] = _normalised_config(now["handler_config"])
        steps.append(_step("route", spec.path, "routes.yaml", row, now, _route_desired(spec)))
    in_bundle = {r.path for r in bundle.routes}
    for path, row in sorted(current.routes.items()):
        if path in in_bundle:
            continue
        if prune:
            steps.append(Step("route", path, "delete", row))
            continue
        # A route the bundle leaves alone must not end up showing a private dashboard.
        dashboard = current.dashboard_names.get(row.dashboard_id or 0)
        public = (row.handler_config or {}).get("auth", "public") == "public"
        if dashboard is not None and public and not dashboards.get(dashboard, True):
            raise Conflict(
                f"dashboards/{dashboard}.yaml makes the dashboard private, but the server's "
                f"public route '{path}' shows it; change that route too",
                details={"file": f"dashboards/{dashboard}.yaml", "public_routes": [path]},
            )
    return steps


def check_expected(plan: Plan, expected: dict[str, int] | None) -> None:
    """409 when the site moved since the plan the caller saw (the If-Match rule for a whole
    site). `expected` is that plan's fingerprint: an object it lacks was absent then, so one
    created since, in any kind, counts as moved, as does one changed or deleted. None: the
    caller holds the apply to no plan."""
    if expected is None:
        return
    now = plan.expected_versions()
    stale = {
        key: {"expected": expected.get(key, 0), "current": now.get(key, 0)}
        for key in sorted(now.keys() | expected.keys())
        if now.get(key, 0) != expected.get(key, 0)
    }
    if stale:
        named = "; ".join(_moved(key, **seen) for key, seen in list(stale.items())[:STALE_NAMED])
        more = f"; and {len(stale) - STALE_NAMED} more" if len(stale) > STALE_NAMED else ""
        raise Conflict(
            f"the site changed since the plan: {named}{more} ({len(stale)} object(s) moved); "
            "nothing was applied, plan again",
            details={"stale": stale},
        )


def _moved(key: str, *, expected: int, current: int) -> str:
    if expected == 0:
        return f"{key} was created since (now version {current})"
    if current == 0:
        return f"{key} was deleted since (the plan saw version {expected})"
    return f"{key} is at version {current}, the plan saw {expected}"
