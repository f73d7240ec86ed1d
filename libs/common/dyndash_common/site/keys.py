"""Cache keys and version signatures, computed the same way by gateways and renderers.

A key names what is asked for (a route with its params and declared query, a widget
fragment, a dashboard's data); its signature names the versions it is built from. L1 keeps one
slot per key; L2 stores under `shared_key(key, signature)`, so a renderer can fill exactly the
entry a gateway will look up after a change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Mapping

from dyndash_common.site.state import RouteInfo, SiteState, WidgetInfo


def shared_key(key: Hashable, signature: Hashable) -> str:
    return hashlib.blake2b(repr((key, signature)).encode(), digest_size=16).hexdigest()


def page_key(route: RouteInfo, params: Mapping[str, str], query: Mapping[str, str]) -> Hashable:
    return ("page", route.id, tuple(sorted(params.items())), tuple(sorted(query.items())))


def page_signature(state: SiteState, route: RouteInfo, template: str) -> Hashable:
    dashboard = state.dashboards.get(route.dashboard_id) if route.dashboard_id else None
    return (
        route.version,
        state.catalog.signature(template),
        dashboard.signature if dashboard else None,
    )


def fragment_key(widget: WidgetInfo) -> Hashable:
    return ("fragment", widget.id)


def fragment_signature(state: SiteState, widget: WidgetInfo) -> Hashable:
    template = state.catalog.signature(widget.template) if widget.template else None
    return (widget.version, widget.data_version, template)


def data_key(dashboard_id: int) -> Hashable:
    return ("data", dashboard_id)
