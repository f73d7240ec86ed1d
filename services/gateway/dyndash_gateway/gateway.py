"""The gateway's per-process parts, wired together, started and stopped in its lifespan."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from dyndash_common.apikeys import MAX_KEY_LENGTH, authenticate, scopes_allow
from dyndash_common.cache import MemoryCache, RedisStore
from dyndash_common.errors import Unauthorized
from dyndash_common.events import ChangeEvent, StreamReader
from dyndash_common.loop_lag import sample_loop_lag
from dyndash_common.ratelimit import InProcessRateLimiter
from dyndash_common.runtime import Runtime
from dyndash_common.site import (
    Assets,
    Catalog,
    MemorySink,
    PageBuilder,
    ProcessTemplates,
    SiteState,
    StateFollower,
    TemplateRenderer,
    Variants,
    graph_digest,
    record_render_status,
    record_warm_report,
    targets_for,
    warm,
)
from dyndash_common.tasks import cancel_and_wait
from dyndash_common.templating import RenderBudget, RenderPool
from dyndash_common.web import SharedChecks, StreamSlots
from dyndash_gateway.live import LiveHub
from dyndash_gateway.ready import ReadyResponses
from dyndash_gateway.responses import PagePolicies
from dyndash_gateway.service import CachedResponses

log = logging.getLogger("dyndash.gateway")

KEY_CACHE_SECONDS = 5.0
STARTUP_RETRY_SECONDS = 1.0
RECORD_RETRY_SECONDS = (0.2, 1.0, 3.0)


@dataclass(frozen=True)
class KeyCheck:
    valid: bool
    reason: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return self.valid and scopes_allow(self.scopes, scope)


class KeyCache:
    """Verified API keys for a few seconds, so a protected page costs no query per request.
    A revoked key keeps working here for at most KEY_CACHE_SECONDS.

    Entries are keyed by a digest of the presented key: the cache holds 32 bytes per entry
    whatever a client sends, and no secret in the clear.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._checked: dict[bytes, tuple[float, KeyCheck]] = {}
        # Open streams re-check their key every few seconds: those of one key share a query.
        self._queries: SharedChecks[KeyCheck] = SharedChecks()

    async def check(self, presented: str | None, *, fresh: bool = False) -> KeyCheck:
        """`fresh`: ask the database even if a check is cached (open streams re-checking);
        an answer the database gave within the last second counts as fresh."""
        if not presented:
            return KeyCheck(False, "an API key is required", frozenset())
        if len(presented) > MAX_KEY_LENGTH:
            return KeyCheck(False, "the API key is not valid", frozenset())
        digest = hashlib.blake2b(presented.encode(), digest_size=32).digest()
        cached = self._checked.get(digest)
        if cached is not None and cached[0] > time.monotonic() and not fresh:
            return cached[1]
        return await self._queries.ask(digest, lambda: self._query(digest, presented))

    async def _query(self, digest: bytes, presented: str) -> KeyCheck:
        now = time.monotonic()
        try:
            async with self.runtime.database.sessions() as session:
                key = await authenticate(
                    session, pepper=self.runtime.settings.key_pepper, presented=presented
                )
                await session.commit()
            result = KeyCheck(True, "", frozenset(key.scopes))
        except Unauthorized as error:
            result = KeyCheck(False, error.message, frozenset())
        if len(self._checked) > 10_000:
            self._checked.clear()
        self._checked[digest] = (now + KEY_CACHE_SECONDS, result)
        return result


RendererFactory = Callable[[Catalog], TemplateRenderer]


class Gateway:
    """One gateway process: its site state and follower, caches, render pool and limiter.

    `render_with` replaces the render pool (for a benchmark's baseline); the shipped gateway
    renders every template in the pool's child processes.
    """

    def __init__(self, runtime: Runtime, render_with: RendererFactory | None = None) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.settings = settings
        self.state = SiteState()
        self.pool: RenderPool | None = None
        if render_with is None:
            self.pool = RenderPool(
                RenderBudget.from_settings(settings), size=settings.render_processes
            )
            templates: TemplateRenderer = ProcessTemplates(self.state.catalog, self.pool)
        else:
            templates = render_with(self.state.catalog)
        self.builder = PageBuilder(
            self.state.catalog,
            runtime.database,
            templates,
            failures=self.state.failures,
            on_budget_failure=self._budget_failed,
        )
        # This gateway's own DYNDASH_CSP, added to every page's policy as it is sent.
        self.policies = PagePolicies(settings.csp)
        self.memory = MemoryCache(settings.gateway_l1_max_bytes)
        # Responses the front sends again to repeated page requests (see ready.py).
        self.ready_responses = ReadyResponses(self.memory)
        self.store = (
            RedisStore(runtime.redis, settings.redis_prefix, settings.gateway_stale_seconds)
            if runtime.redis is not None and settings.gateway_l2_enabled
            else None
        )
        self.responses = CachedResponses(
            self.memory,
            self.store,
            stale_seconds=settings.gateway_stale_seconds,
            lock_seconds=settings.render_timeout_seconds + 1,
        )
        self.follower = StateFollower(
            self.state,
            runtime.database,
            on_gap=self.memory.clear,
            resync_seconds=settings.gateway_resync_seconds,
        )
        self.keys = KeyCache(runtime)
        self.assets = Assets(self.state.catalog)
        self.limiter = (
            InProcessRateLimiter(
                settings.gateway_rate_limit_requests, settings.rate_limit_window_seconds
            )
            if settings.gateway_rate_limit_requests
            else None
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = asyncio.Event()
        self.live = LiveHub()
        self.stream_slots = StreamSlots(
            per_holder=settings.live_max_per_address, total=settings.live_max_streams
        )
        self.follower.listeners.append(self.live.on_event)
        self.variants = (
            Variants(runtime.redis, settings.redis_prefix) if runtime.redis is not None else None
        )
        self._background: set[asyncio.Task[None]] = set()
        # Without Redis there is no renderer service: this process warms its own L1.
        self._warm_queue: asyncio.Queue[ChangeEvent] | None = None
        if runtime.redis is None and settings.gateway_l1_max_bytes > 0:
            self._warm_queue = asyncio.Queue()
            self.follower.listeners.append(self._queue_warm)

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(sample_loop_lag()))
        if self.pool is not None:
            await self.pool.start()
        self._tasks.append(asyncio.create_task(self._run()))
        if self._warm_queue is not None:
            self._tasks.append(asyncio.create_task(self._warm_forever(self._warm_queue)))

    def _queue_warm(self, event: ChangeEvent) -> None:
        if self._warm_queue is not None and event.changes_state:
            self._warm_queue.put_nowait(event)

    async def _warm_forever(self, queue: asyncio.Queue[ChangeEvent]) -> None:
        sink = MemorySink(self.memory)
        ttl = self.settings.fragment_ttl_seconds
        while True:
            event = await queue.get()
            try:
                targets = await targets_for(self.state, event, None, ttl)
                report = await warm(targets, self.builder, sink)
                # Standing in for the renderer service, this process records what it rendered,
                # so the admin API (and its UI) can say whether a version renders.
                await record_warm_report(self.runtime, report)
            except Exception as error:
                log.warning("warm_failed", extra={"details": {"error": repr(error)}})

    def _budget_failed(self, name: str, reason: str) -> None:
        """Block this template's graph here at once, and everywhere once recorded."""
        info = self.state.catalog.by_name.get(name)
        if info is None:
            return
        graph = graph_digest(self.state.catalog.signature(name))
        self.state.note_budget_failure(name, graph, reason)
        self._in_background(self._record_failure(name, info.version, reason, graph))

    async def _record_failure(self, name: str, version: int, reason: str, graph: str) -> None:
        # This process already refuses the graph; the record tells the others. A busy
        # database (SQLite's write lock, a failover) gets a few more tries.
        for attempt, pause in enumerate(RECORD_RETRY_SECONDS):
            try:
                await record_render_status(self.runtime, name, version, reason, budget_graph=graph)
                return
            except Exception as error:
                last_try = attempt == len(RECORD_RETRY_SECONDS) - 1
                log.warning(
                    "render_failure_not_recorded",
                    extra={"details": {"error": repr(error), "retrying": not last_try}},
                )
                if last_try:
                    return
                await asyncio.sleep(pause)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def record_variant(self, route_id: int, params: dict[str, str], query: dict[str, str]) -> None:
        """Remember a rendered param-route variant, for the renderer to re-render on change."""
        if self.variants is None or (self.store is not None and not self.store.available):
            return
        self._in_background(self._record(route_id, params, query))

    async def _record(self, route_id: int, params: dict[str, str], query: dict[str, str]) -> None:
        assert self.variants is not None
        try:
            await self.variants.record(route_id, params, query, time.time())
        except Exception as error:
            log.debug("variant_not_recorded", extra={"details": {"error": repr(error)}})

    async def _run(self) -> None:
        while True:
            try:
                await self.follower.load()
                self._loaded.set()
                break
            except Exception as error:
                log.warning("initial_load_failed", extra={"details": {"error": repr(error)}})
                await asyncio.sleep(STARTUP_RETRY_SECONDS)
        followers = [asyncio.create_task(self.follower.resync_forever())]
        if self.runtime.redis is not None:
            reader = StreamReader(self.runtime.redis, self.settings.redis_prefix)
            followers.append(asyncio.create_task(self.follower.follow_stream(reader)))
        else:
            followers.append(asyncio.create_task(self.follower.follow_outbox(self.runtime.bus)))
        try:
            await asyncio.gather(*followers)
        finally:
            await cancel_and_wait(followers)

    async def ready(self) -> None:
        """Wait until the first load is done (for tests and `dyndash dev`)."""
        await self._loaded.wait()

    async def stop(self) -> None:
        # A task that ended with an error (a follower's Redis timeout) must not stop the rest
        # of the shutdown, or the runtime's connections stay open: its error is dropped.
        await cancel_and_wait(self._tasks)
        # Variant records and stale refreshes in flight end before their connections close:
        # left running, they outlived the runtime and leaked Redis connections.
        await cancel_and_wait(self._background)
        await self.responses.stop()
        if self.pool is not None:
            await self.pool.aclose()
