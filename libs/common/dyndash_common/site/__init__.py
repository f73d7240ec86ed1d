"""The site model shared by the gateway and the renderer: state, keys, page building."""

from __future__ import annotations

from dyndash_common.site.assets import Assets
from dyndash_common.site.builder import (
    TEMPLATE_FAULTS,
    PageBuilder,
    ProcessTemplates,
    TemplateRenderer,
)
from dyndash_common.site.failures import graph_digest
from dyndash_common.site.follower import StateFollower
from dyndash_common.site.impact import closes_cycle, find_cycle, reach, reversed_edges
from dyndash_common.site.keys import (
    data_key,
    fragment_key,
    fragment_signature,
    page_key,
    page_signature,
)
from dyndash_common.site.render_status import record_render_status, record_warm_report
from dyndash_common.site.state import Catalog, RouteInfo, RouteTable, SiteState, TemplateInfo
from dyndash_common.site.warming import (
    MemorySink,
    RedisSink,
    Target,
    Variants,
    WarmReport,
    targets_for,
    warm,
)

__all__ = [
    "TEMPLATE_FAULTS",
    "Assets",
    "Catalog",
    "MemorySink",
    "PageBuilder",
    "ProcessTemplates",
    "RedisSink",
    "RouteInfo",
    "RouteTable",
    "SiteState",
    "StateFollower",
    "Target",
    "TemplateInfo",
    "TemplateRenderer",
    "Variants",
    "WarmReport",
    "closes_cycle",
    "data_key",
    "find_cycle",
    "fragment_key",
    "fragment_signature",
    "graph_digest",
    "page_key",
    "page_signature",
    "reach",
    "record_render_status",
    "record_warm_report",
    "reversed_edges",
    "targets_for",
    "warm",
]
