"""Fixed-window rate limiting per identity: in-process, or shared by every instance via Redis."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

log = logging.getLogger("dyndash.ratelimit")


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        """IETF httpapi RateLimit header fields (draft-ietf-httpapi-ratelimit-headers)."""
        headers = {
            "RateLimit-Policy": f'"default";q={self.limit};w={self.window_seconds}',
            "RateLimit": f'"default";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class RateLimiter(Protocol):
    async def hit(self, identity: str) -> RateDecision: ...


class InProcessRateLimiter:
    """Fixed windows aligned on the clock: one counter dict for the current window, dropped
    wholesale when the next one starts, so every hit costs O(1) however many identities the
    window has seen (sweeping expired identities one by one cost a scan per hit)."""

    def __init__(
        self, limit: int, window_seconds: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window_seconds
        self._clock = clock
        self._window_index = -1
        self._counts: dict[str, int] = {}

    async def hit(self, identity: str) -> RateDecision:
        now = self._clock()
        index = int(now // self.window)
        if index != self._window_index:
            self._window_index = index
            self._counts = {}
        count = self._counts.get(identity, 0) + 1
        self._counts[identity] = count
        reset = max(1, math.ceil((index + 1) * self.window - now))
        return RateDecision(
            count <= self.limit, self.limit, max(0, self.limit - count), reset, self.window
        )


_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {count, redis.call('PTTL', KEYS[1])}
"""


class RedisRateLimiter:
    """One counter per identity and window, shared by every instance. If Redis is down the
    request is let through: a limiter outage must not become an API outage."""

    def __init__(self, redis: Redis, prefix: str, limit: int, window_seconds: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.limit = limit
        self.window = window_seconds
        self._script = redis.register_script(_HIT_SCRIPT)

    async def hit(self, identity: str) -> RateDecision:
        try:
            count, ttl_ms = await self._script(
                keys=[f"{self.prefix}:ratelimit:{identity}"], args=[self.window * 1000]
            )
        except Exception as error:
            log.warning("ratelimit_unavailable", extra={"details": {"error": repr(error)}})
            return RateDecision(True, self.limit, self.limit, self.window, self.window)
        reset = max(1, (int(ttl_ms) + 999) // 1000)
        count = int(count)
        return RateDecision(
            count <= self.limit, self.limit, max(0, self.limit - count), reset, self.window
        )
