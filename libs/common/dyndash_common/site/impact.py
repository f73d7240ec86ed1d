"""Which templates and pages a change affects: the include graph, walked in one place.

Templates name others through include, extends and import; those names are the edges (a
template's `dependencies`). One walk serves every question asked of the graph:

- what a render of a template needs (`reach` from it): the sources a render process gets, the
  versions a cache key carries, the CSS/JS bundled with it;
- what a change to some templates touches (`reach` along the reversed edges): the pages to
  warm again;
- whether a write would close a cycle (a template that reaches itself): refused by the admin
  API, one template at a time (`closes_cycle`) or a whole site at once (`find_cycle`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from dyndash_common.events.model import ChangeEvent

if TYPE_CHECKING:
    from dyndash_common.site.state import RouteInfo, SiteState

Edges = Mapping[str, Iterable[str]]


def reach(edges: Edges, starts: Iterable[str]) -> list[str]:
    """Every name reachable from `starts` along `edges`, `starts` included, each listed after
    everything it reaches (dependencies first). Names without edges are leaves."""
    order: list[str] = []
    seen: set[str] = set()
    for start in starts:
        if start in seen:
            continue
        seen.add(start)
        # Iterative depth-first walk: an include chain may be longer than the recursion limit.
        pending: list[tuple[str, Iterator[str]]] = [(start, iter(edges.get(start, ())))]
        while pending:
            name, children = pending[-1]
            child = next(children, None)
            if child is None:
                pending.pop()
                order.append(name)
            elif child not in seen:
                seen.add(child)
                pending.append((child, iter(edges.get(child, ()))))
    return order


def reversed_edges(edges: Edges) -> dict[str, list[str]]:
    """Each name with the names whose edges point at it (who includes it)."""
    users: dict[str, list[str]] = {}
    for name, dependencies in edges.items():
        for dependency in dependencies:
            users.setdefault(dependency, []).append(name)
    return users


def dependents(edges: Edges, names: Iterable[str]) -> set[str]:
    """`names` and every template that includes, extends or imports one of them, however
    indirectly."""
    return set(reach(reversed_edges(edges), names))


def closes_cycle(edges: Edges, name: str, references: Iterable[str]) -> bool:
    """Whether giving `name` these references would let it reach itself."""
    return name in reach({**edges, name: ()}, references)


def find_cycle(edges: Edges) -> list[str] | None:
    """One include cycle of the whole graph as the path around it (`a → b → a` is
    `["a", "b", "a"]`), or None: for checking many templates at once, as a site apply does."""
    done: set[str] = set()
    for start in sorted(edges):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        pending: list[Iterator[str]] = [iter(edges.get(start, ()))]
        while pending:
            child = next(pending[-1], None)
            if child is None:
                pending.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
            elif child in on_path:
                return [*path[path.index(child) :], child]
            elif child not in done:
                path.append(child)
                on_path.add(child)
                pending.append(iter(edges.get(child, ())))
    return None


def routes_affected(state: SiteState, event: ChangeEvent) -> list[RouteInfo]:
    """The routes whose pages a state change alters; for a site apply, those of all its parts,
    found in one walk."""
    routes = [*state.routes.static.values(), *(route for _, route in state.routes.dynamic)]
    names: set[str] = set()
    route_ids: set[int] = set()
    dashboard_ids: set[object] = set()
    for part in event.parts():
        kind = part.entity.kind
        if kind == "template":
            names |= {
                str(part.payload.get(k)) for k in ("name", "previous_name") if part.payload.get(k)
            }
        elif kind == "route":
            route_ids.add(part.entity.id)
        elif kind == "dashboard":
            dashboard_ids.add(part.entity.id)
        else:
            dashboard_ids.add(part.payload.get("dashboard_id"))
    affected = dependents(state.catalog.edges, names) if names else set()
    return [
        r
        for r in routes
        if r.id in route_ids
        or (r.dashboard_id is not None and r.dashboard_id in dashboard_ids)
        or state.catalog.by_id.get(r.template_id) in affected
    ]
