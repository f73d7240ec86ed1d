"""The cache in front of the page builder: L1, then L2, then one render per key.

Outcomes for the hot path, as `X-Cache`: HIT-L1, HIT-L2, MISS (rendered now, or waited for a
render in flight), STALE (past its TTL while a refresh runs, or the last good version while
the database or the template is failing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError

from dyndash_common.cache import CachedEntry, MemoryCache, RedisStore
from dyndash_common.errors import BudgetExceeded, Unservable
from dyndash_common.site import TEMPLATE_FAULTS, keys
from dyndash_common.tasks import cancel_and_wait
from dyndash_gateway.metrics import CACHE_RESULTS

log = logging.getLogger("dyndash.gateway")

FAILURE_MEMORY_SECONDS = 5.0
MAX_REMEMBERED_FAILURES = 10_000
_LAYER_COUNTERS = {
    layer: CACHE_RESULTS.labels(layer) for layer in ("HIT-L1", "HIT-L2", "MISS", "STALE")
}
L2_WAIT_STEP_SECONDS = 0.01


@dataclass(frozen=True)
class Served:
    entry: CachedEntry
    cache: str


class CachedResponses:
    """L1, then L2, then one build per key across the cluster; stale entries served while one
    refresh runs, and the last good entry when a build fails."""

    def __init__(
        self,
        memory: MemoryCache,
        store: RedisStore | None,
        *,
        stale_seconds: int,
        lock_seconds: float,
    ) -> None:
        self.memory = memory
        self.store = store
        self.stale_seconds = stale_seconds
        self.lock_seconds = lock_seconds
        self._inflight: dict[str, asyncio.Future[CachedEntry | None]] = {}
        self._failures: dict[str, tuple[float, Unservable]] = {}
        self._refreshing: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def get(
        self,
        key: Hashable,
        signature: Hashable,
        build: Callable[[], Awaitable[CachedEntry | None]],
    ) -> Served | None:
        """The response for `key` at `signature`; None when `build` says it does not exist."""
        now = time.time()
        entry = self.memory.get(key, signature)
        if entry is not None:
            if entry.fresh(now):
                return self._count(Served(entry, "HIT-L1"))
            if now - entry.created < entry.ttl + self.stale_seconds:
                self._refresh(key, signature, build)
                return self._count(Served(entry, "STALE"))
        shared_key = keys.shared_key(key, signature)
        if self.store is not None:
            entry = await self.store.get(shared_key)
            if entry is not None and entry.fresh(now):
                self.memory.put(key, signature, entry)
                return self._count(Served(entry, "HIT-L2"))
        try:
            built = await self._single_flight(key, signature, shared_key, build)
        except Unservable:
            last = self.memory.last_good(key)
            if last is not None:
                return self._count(Served(last, "STALE"))
            raise
        if built is None:
            return None
        # Waited for another instance's (or the renderer's) render and read it from L2.
        return self._count(Served(built, "HIT-L2" if built.origin == "l2" else "MISS"))

    def count_l1_hit(self) -> None:
        """A response sent again from the front's ready responses: an L1 hit it stood in for."""
        _LAYER_COUNTERS["HIT-L1"].inc()

    def _count(self, served: Served) -> Served:
        _LAYER_COUNTERS[served.cache].inc()
        return served

    def _refresh(
        self, key: Hashable, signature: Hashable, build: Callable[[], Awaitable[CachedEntry | None]]
    ) -> None:
        shared_key = keys.shared_key(key, signature)
        if shared_key in self._refreshing:
            return
        self._refreshing.add(shared_key)

        async def refresh() -> None:
            try:
                await self._single_flight(key, signature, shared_key, build)
            except Unservable:
                pass
            finally:
                self._refreshing.discard(shared_key)

        task = asyncio.create_task(refresh())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """End background refreshes, before the connections they use are closed."""
        await cancel_and_wait(self._background)

    async def _single_flight(
        self,
        key: Hashable,
        signature: Hashable,
        shared_key: str,
        build: Callable[[], Awaitable[CachedEntry | None]],
    ) -> CachedEntry | None:
        failure = self._failures.get(shared_key)
        if failure is not None:
            if time.monotonic() < failure[0]:
                raise failure[1]
            del self._failures[shared_key]
        running = self._inflight.get(shared_key)
        if running is not None:
            return await asyncio.shield(running)
        # A render that finished while this request was still looking in L2 is in L1 now.
        done = self.memory.get(key, signature)
        if done is not None and done.fresh(time.time()):
            return done
        future: asyncio.Future[CachedEntry | None] = asyncio.get_running_loop().create_future()
        self._inflight[shared_key] = future
        try:
            entry = await self._build_once(shared_key, build)
        except Unservable as error:
            if len(self._failures) >= MAX_REMEMBERED_FAILURES:
                self._failures.clear()
            self._failures[shared_key] = (time.monotonic() + FAILURE_MEMORY_SECONDS, error)
            future.set_exception(error)
            future.exception()  # retrieved here, so an unawaited future logs nothing
            del self._inflight[shared_key]
            raise
        except BaseException as error:
            future.set_exception(error)
            future.exception()
            del self._inflight[shared_key]
            raise
        # Into L1 before the in-flight marker goes, so no request can miss both.
        if entry is not None and entry.ttl > 0:
            self.memory.put(key, signature, entry)
        future.set_result(entry)
        del self._inflight[shared_key]
        if entry is not None and entry.ttl > 0 and self.store is not None:
            await self.store.put(shared_key, entry)
        return entry

    async def _build_once(
        self, shared_key: str, build: Callable[[], Awaitable[CachedEntry | None]]
    ) -> CachedEntry | None:
        """Across instances: whoever takes the lock renders; the others wait for its L2 write,
        and render themselves if it does not come within the lock period."""
        locked = False
        if self.store is not None:
            locked = await self.store.acquire_render_lock(shared_key, self.lock_seconds)
            if not locked:
                deadline = time.monotonic() + self.lock_seconds
                while time.monotonic() < deadline:
                    await asyncio.sleep(L2_WAIT_STEP_SECONDS)
                    entry = await self.store.get(shared_key)
                    if entry is not None:
                        return entry
        try:
            return await build()
        except BudgetExceeded as error:
            log.warning("render_over_budget", extra={"details": {"reason": str(error)}})
            raise Unservable(503, f"this page is over its render budget: {error}", 30) from None
        except TEMPLATE_FAULTS as error:
            log.error(
                "render_failed", extra={"details": {"error": f"{type(error).__name__}: {error}"}}
            )
            raise Unservable(500, "this page failed to render") from None
        except (DBAPIError, OSError, TimeoutError) as error:
            log.error("database_unavailable", extra={"details": {"error": repr(error)[:300]}})
            raise Unservable(503, "the data behind this page is unavailable", 5) from None
        finally:
            if locked and self.store is not None:
                await self.store.release_render_lock(shared_key)
