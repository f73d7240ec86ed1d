"""The per-process resources of a service, built in its lifespan and closed there."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from redis.asyncio import Redis

from dyndash_common.db.engine import Database, create_engine
from dyndash_common.events.bus import EventBus, InProcessBus
from dyndash_common.events.publisher import JobQueue
from dyndash_common.events.stream import RedisBus
from dyndash_common.jobs import ArqJobs, NoJobs
from dyndash_common.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from dyndash_common.settings import Settings


@dataclass
class Runtime:
    """A process's connections and adapters: database, event bus, rate limiter, Redis and the
    render queue, chosen by the settings (embedded or PostgreSQL + Redis)."""

    settings: Settings
    database: Database
    bus: EventBus
    rate_limiter: RateLimiter
    redis: Redis | None
    jobs: JobQueue

    async def close(self) -> None:
        await self.database.dispose()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()


def build_runtime(settings: Settings, bus: EventBus | None = None) -> Runtime:
    """Redis-backed adapters when REDIS_URL is set, in-process ones otherwise.

    `bus` lets one process share a single in-process bus between its services (`dyndash dev`).
    """
    database = Database(create_engine(settings.database_url))
    if settings.redis_url is None:
        return Runtime(
            settings=settings,
            database=database,
            bus=bus or InProcessBus(),
            rate_limiter=InProcessRateLimiter(
                settings.rate_limit_requests, settings.rate_limit_window_seconds
            ),
            redis=None,
            jobs=NoJobs(),
        )
    redis = Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=15,
    )
    return Runtime(
        settings=settings,
        database=database,
        bus=bus or RedisBus(redis, settings.redis_prefix, settings.event_stream_maxlen),
        rate_limiter=RedisRateLimiter(
            redis,
            settings.redis_prefix,
            settings.rate_limit_requests,
            settings.rate_limit_window_seconds,
        ),
        redis=redis,
        jobs=ArqJobs(redis, settings.redis_prefix),
    )
