"""The two cache levels the gateway reads and the renderer fills."""

from __future__ import annotations

from dyndash_common.cache.entry import CachedEntry
from dyndash_common.cache.memory import MemoryCache
from dyndash_common.cache.redis_store import RedisStore

__all__ = ["CachedEntry", "MemoryCache", "RedisStore"]
