"""Render work queued after a change: arq jobs on Redis, deduplicated by entity and version."""

from __future__ import annotations

import orjson
from arq.connections import ArqRedis
from redis.asyncio import Redis

from dyndash_common.events.model import ChangeEvent

WARM_FUNCTION = "warm_after_change"


def queue_name(prefix: str) -> str:
    return f"{prefix}:render-queue"


def warm_job_id(prefix: str, event: ChangeEvent) -> str:
    """The same change seen twice (a republished event) or by two replicas is one job. arq keeps
    job keys outside any queue's namespace, so the deployment's prefix is part of the id."""
    return f"{prefix}:warm:{event.type}:{event.entity.id}:{event.version}"


class NoJobs:
    """The embedded default: the gateway warms its own cache from the events it applies."""

    async def enqueue_warm(self, event: ChangeEvent) -> None:
        return None


class ArqJobs:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.prefix = prefix
        self.pool = ArqRedis(
            redis.connection_pool,
            job_serializer=orjson.dumps,
            job_deserializer=orjson.loads,
            default_queue_name=queue_name(prefix),
        )

    async def enqueue_warm(self, event: ChangeEvent) -> None:
        if event.changes_state:
            job_id = warm_job_id(self.prefix, event)
            await self.pool.enqueue_job(
                WARM_FUNCTION, event.model_dump(mode="json"), _job_id=job_id
            )

    async def enqueue_warm_part(self, event: ChangeEvent, part: int, route_ids: list[int]) -> None:
        """One part of a change touching many routes: only those routes' pages, deduplicated
        like the whole change's job."""
        await self.pool.enqueue_job(
            WARM_FUNCTION,
            event.model_dump(mode="json"),
            route_ids,
            _job_id=f"{warm_job_id(self.prefix, event)}:part:{part}",
        )
