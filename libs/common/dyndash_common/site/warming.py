"""Pre-rendering after a change: what a change affects, and filling the cache with it.

The renderer service runs this in arq jobs and writes L2; the embedded gateway runs it
in-process and writes its own L1. Either way the entries land under the keys a gateway looks up
(`dyndash_common.site.keys`), so the first request after a change is a hit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from redis.asyncio import Redis

from dyndash_common.cache.entry import CachedEntry
from dyndash_common.cache.memory import MemoryCache
from dyndash_common.cache.redis_store import RedisStore
from dyndash_common.errors import BudgetExceeded
from dyndash_common.events.model import ChangeEvent
from dyndash_common.site import keys
from dyndash_common.site.builder import (
    TEMPLATE_FAULTS,
    BuildOrder,
    DataOrder,
    FragmentOrder,
    PageBuilder,
    PageOrder,
    RenderedGraphs,
)
from dyndash_common.site.failures import Signature
from dyndash_common.site.impact import routes_affected
from dyndash_common.site.state import SiteState

log = logging.getLogger("dyndash.warming")

RECENT_VARIANTS = 50
LOCK_SECONDS = 10.0
Variant = tuple[dict[str, str], dict[str, str]]


@dataclass(frozen=True)
class Target:
    """One cache entry to fill: where it goes (key, signature) and what to build there."""

    label: str
    key: Hashable
    signature: Hashable
    order: BuildOrder
    # The template whose render this is, for its render status.
    template: str | None
    # The route of a page target, so a big change can be split by route across workers.
    route_id: int | None = None


@dataclass(frozen=True)
class WarmFailure:
    target: str
    template: str | None
    error: str
    over_budget: bool
    # The versions of the template's include graph that the failed render was of; empty when
    # it failed before rendering (then nothing is recorded for it).
    signature: Signature


@dataclass
class WarmReport:
    written: int = 0
    skipped: int = 0
    failures: list[WarmFailure] = field(default_factory=list)
    # Templates rendered successfully by this run, each with the versions of its include
    # graph that render was of (a template may render at two versions in one run).
    rendered: set[tuple[str, Signature]] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "written": self.written,
            "skipped": self.skipped,
            "failed": [
                {"target": f.target, "template": f.template, "error": f.error}
                for f in self.failures
            ],
        }


class WarmSink(Protocol):
    async def has(self, key: Hashable, signature: Hashable) -> bool: ...

    async def claim(self, key: Hashable, signature: Hashable) -> bool:
        """Take the cluster's render lock for this entry; False when someone holds it."""

    async def release(self, key: Hashable, signature: Hashable) -> None: ...

    async def put(self, key: Hashable, signature: Hashable, entry: CachedEntry) -> None: ...


class RedisSink:
    def __init__(self, store: RedisStore) -> None:
        self.store = store

    async def has(self, key: Hashable, signature: Hashable) -> bool:
        return bool(
            await self.store.redis.exists(self.store.entry_key(keys.shared_key(key, signature)))
        )

    async def claim(self, key: Hashable, signature: Hashable) -> bool:
        # The same lock a gateway takes on a miss: a gateway arriving while this renders
        # waits for the L2 write instead of rendering the page a second time.
        return await self.store.acquire_render_lock(keys.shared_key(key, signature), LOCK_SECONDS)

    async def release(self, key: Hashable, signature: Hashable) -> None:
        await self.store.release_render_lock(keys.shared_key(key, signature))

    async def put(self, key: Hashable, signature: Hashable, entry: CachedEntry) -> None:
        await self.store.redis.set(
            self.store.entry_key(keys.shared_key(key, signature)),
            entry.encode(),
            ex=max(1, entry.ttl + self.store.stale_seconds),
        )


class MemorySink:
    def __init__(self, memory: MemoryCache) -> None:
        self.memory = memory

    async def has(self, key: Hashable, signature: Hashable) -> bool:
        return self.memory.get(key, signature) is not None

    async def claim(self, key: Hashable, signature: Hashable) -> bool:
        return True

    async def release(self, key: Hashable, signature: Hashable) -> None:
        return None

    async def put(self, key: Hashable, signature: Hashable, entry: CachedEntry) -> None:
        self.memory.put(key, signature, entry)


class Variants:
    """The path params and query values of param routes that gateways rendered recently."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, route_id: int) -> str:
        return f"{self.prefix}:variants:{route_id}"

    async def record(
        self, route_id: int, params: dict[str, str], query: dict[str, str], now: float
    ) -> None:
        member = orjson.dumps([params, query], option=orjson.OPT_SORT_KEYS)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._key(route_id), {member: now})
            pipe.zremrangebyrank(self._key(route_id), 0, -RECENT_VARIANTS - 1)
            await pipe.execute()

    async def recent(self, route_id: int) -> list[Variant]:
        members = await self.redis.zrevrange(self._key(route_id), 0, RECENT_VARIANTS - 1)
        variants = []
        for member in members:
            params, query = orjson.loads(member)
            variants.append((dict(params), dict(query)))
        return variants


async def targets_for(
    state: SiteState, event: ChangeEvent, variants: Variants | None, ttl: int
) -> list[Target]:
    """The entries a state change alters: pages of the routes it affects (every recently
    served variant of a param route), and for a dashboard or widget its fragments and data.
    For a site apply, the union of its parts' entries."""
    targets: list[Target] = []
    for route in routes_affected(state, event):
        name = state.catalog.by_id.get(route.template_id)
        template = state.catalog.by_name.get(name or "")
        if template is None or not template.is_active or _blocked(state, template.name):
            continue
        if "{" not in route.path:
            route_variants: list[Variant] = [({}, {})]
        elif variants is not None:
            route_variants = await variants.recent(route.id)
        else:
            route_variants = []
        for params, query in route_variants:
            targets.append(
                Target(
                    f"page {route.path} {params or ''}{query or ''}".strip(),
                    keys.page_key(route, params, query),
                    keys.page_signature(state, route, template.name),
                    PageOrder(route, template.name, params, query),
                    template.name,
                    route.id,
                )
            )
    fragments: dict[Hashable, Target] = {}
    for part in event.parts():
        for target in _dashboard_targets(state, part, ttl):
            fragments.setdefault(target.key, target)
    return [*targets, *fragments.values()]


def _dashboard_targets(state: SiteState, event: ChangeEvent, ttl: int) -> list[Target]:
    """A dashboard or widget change: its fragments and the dashboard's data."""
    targets: list[Target] = []
    kind = event.entity.kind
    dashboard_id = event.entity.id if kind == "dashboard" else event.payload.get("dashboard_id")
    dashboard = state.dashboards.get(dashboard_id) if isinstance(dashboard_id, int) else None
    if kind in ("dashboard", "widget") and dashboard is not None:
        widgets = [
            w
            for w in dashboard.widgets
            if (kind == "dashboard" or w.id == event.entity.id)
            and not (w.template and _blocked(state, w.template))
        ]
        for widget in widgets:
            targets.append(
                Target(
                    f"fragment {widget.id}",
                    keys.fragment_key(widget),
                    keys.fragment_signature(state, widget),
                    FragmentOrder(widget, ttl),
                    widget.template,
                )
            )
        targets.append(
            Target(
                f"data {dashboard.id}",
                keys.data_key(dashboard.id),
                dashboard.signature,
                DataOrder(dashboard.id, ttl),
                None,
            )
        )
    return targets


def _blocked(state: SiteState, name: str) -> bool:
    """A graph that ran over its render budget is not rendered again until it changes."""
    return state.failures.blocked(name, state.catalog.signature(name)) is not None


async def warm(
    targets: list[Target], builder: PageBuilder, sink: WarmSink, concurrency: int = 1
) -> WarmReport:
    """Render what is not cached yet, up to `concurrency` at a time. A template that fails or
    overruns its budget is reported, not retried: the same input would fail the same way."""
    report = WarmReport()
    slots = asyncio.Semaphore(concurrency)
    # Claim everything first, so requests arriving during the whole run wait for it.
    claimed = []
    for target in targets:
        if await sink.has(target.key, target.signature):
            report.skipped += 1
        elif await sink.claim(target.key, target.signature):
            # Whoever held the lock may have written it between our look and our claim.
            if await sink.has(target.key, target.signature):
                await sink.release(target.key, target.signature)
                report.skipped += 1
            else:
                claimed.append(target)
        else:
            report.skipped += 1  # a gateway or another worker is rendering it now

    async def one(target: Target) -> None:
        async with slots:
            try:
                await _warm_one(target, builder, sink, report)
            finally:
                await sink.release(target.key, target.signature)

    await asyncio.gather(*(one(target) for target in claimed))
    return report


# A warm job records these per target and carries on with the rest.
WARM_FAULTS: tuple[type[Exception], ...] = (BudgetExceeded, *TEMPLATE_FAULTS)


async def _warm_one(
    target: Target, builder: PageBuilder, sink: WarmSink, report: WarmReport
) -> None:
    # The versions each render was of, taken where the render took its sources: the catalog
    # may move on while a run awaits its locks and renders, so neither the versions when the
    # target was made nor those when the run ends are necessarily the ones rendered.
    rendered: RenderedGraphs = {}
    try:
        entry = await builder.build(target.order, rendered)
    except WARM_FAULTS as error:
        message = f"{type(error).__name__}: {error}"
        report.failures.append(
            WarmFailure(
                target.label,
                target.template,
                message,
                isinstance(error, BudgetExceeded),
                rendered.get(target.template, ()) if target.template else (),
            )
        )
        log.warning("warm_failed", extra={"details": {"target": target.label, "error": message}})
        return
    report.rendered.update(rendered.items())
    if entry is not None and entry.ttl > 0:
        await sink.put(target.key, target.signature, entry)
        report.written += 1
