"""L2: cached entries in Redis under version-carrying keys, and a cluster-wide render lock.

Every failure is a miss, never an error: the gateway keeps serving from L1 and the database.
After a failure the store stays out of the way for a backoff that doubles up to a ceiling, so
a dead Redis costs one timeout per backoff period, not one per request.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis

from dyndash_common.cache.entry import CachedEntry, StaleFormat

log = logging.getLogger("dyndash.cache")

BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 5.0


class RedisStore:
    """L2: encoded cache entries in Redis, shared by every gateway and written by the renderer,
    and the cluster render lock. Redis errors back off instead of failing requests."""

    def __init__(self, redis: Redis, prefix: str, stale_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.stale_seconds = stale_seconds
        self._down_until = 0.0
        self._backoff = BACKOFF_START_SECONDS

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, error: Exception) -> None:
        if self.available:
            log.warning(
                "l2_unavailable",
                extra={
                    "details": {
                        "operation": operation,
                        "error": repr(error),
                        "retry_in": self._backoff,
                    }
                },
            )
        self._down_until = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX_SECONDS)

    def _succeeded(self) -> None:
        self._backoff = BACKOFF_START_SECONDS

    def entry_key(self, key: str) -> str:
        return f"{self.prefix}:cache:{key}"

    async def get(self, key: str) -> CachedEntry | None:
        if not self.available:
            return None
        try:
            raw = await self.redis.get(self.entry_key(key))
        except Exception as error:
            self._failed("get", error)
            return None
        self._succeeded()
        if not raw:
            return None
        try:
            return CachedEntry.decode(raw)
        except StaleFormat:
            return None  # written by an older release: render it anew

    async def put(self, key: str, entry: CachedEntry) -> None:
        if not self.available:
            return
        try:
            await self.redis.set(
                self.entry_key(key), entry.encode(), ex=max(1, entry.ttl + self.stale_seconds)
            )
        except Exception as error:
            self._failed("set", error)
            return
        self._succeeded()

    async def acquire_render_lock(self, key: str, seconds: float) -> bool:
        """True when this instance should render `key`; False when another one already is."""
        if not self.available:
            return True
        try:
            acquired = await self.redis.set(
                f"{self.prefix}:lock:{key}", b"1", nx=True, px=max(1, int(seconds * 1000))
            )
        except Exception as error:
            self._failed("lock", error)
            return True
        return bool(acquired)

    async def release_render_lock(self, key: str) -> None:
        if self.available:
            try:
                await self.redis.delete(f"{self.prefix}:lock:{key}")
            except Exception as error:
                self._failed("unlock", error)
