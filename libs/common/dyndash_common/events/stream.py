"""The change-event stream on Redis, written and read in one place.

Every change event is appended to a bounded Redis Stream (catch-up by entry id) and published
on a channel (instant wake-up). Writers go through `RedisBus`; followers read with
`StreamReader`. Both use the keys named here and the `ChangeEvent` model, so the stream's
shape is defined once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from dyndash_common.events.bus import PubSubSubscription, Subscription
from dyndash_common.events.model import ChangeEvent

# An idle XREAD returns empty after this long. It must stay well under the Redis client's
# socket timeout (5 s in `runtime.build_runtime`): a read blocked as long as the timeout raises
# TimeoutError instead, and the follower then backs off while new events wait.
BLOCK_MILLISECONDS = 2000
READ_BATCH = 100


def stream_key(prefix: str) -> str:
    return f"{prefix}:events"


def channel_key(prefix: str) -> str:
    return f"{prefix}:events:live"


class RedisBus:
    """XADD to a bounded stream (catch-up by id) and PUBLISH for instant fan-out."""

    def __init__(self, redis: Redis, prefix: str, maxlen: int) -> None:
        self.redis = redis
        self.stream = stream_key(prefix)
        self.channel = channel_key(prefix)
        self.maxlen = maxlen

    async def publish(self, event: ChangeEvent) -> None:
        body = event.to_json()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(
                self.stream,
                {"seq": event.id, "type": event.type, "event": body},
                maxlen=self.maxlen,
                approximate=True,
            )
            pipe.publish(self.channel, body)
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.channel)
        try:
            yield PubSubSubscription(pubsub)
        finally:
            await pubsub.unsubscribe(self.channel)
            await pubsub.aclose()  # type: ignore[no-untyped-call]


def _text(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


def _position(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


class StreamReader:
    """Reads the stream in order from an entry id, and tells when entries may be gone."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.stream = stream_key(prefix)

    async def tail(self) -> str:
        """The id of the newest entry ("0-0" when the stream is empty)."""
        entries = await self.redis.xrevrange(self.stream, count=1)
        return _text(entries[0][0]) if entries else "0-0"

    async def read(self, after: str) -> list[tuple[str, ChangeEvent]]:
        """The entries after `after`, waiting up to BLOCK_MILLISECONDS for one."""
        replies = await self.redis.xread(
            {self.stream: after}, count=READ_BATCH, block=BLOCK_MILLISECONDS
        )
        return [
            (_text(entry_id), ChangeEvent.from_json(fields[b"event"]))
            for _, entries in replies or ()
            for entry_id, fields in entries
        ]

    async def gap_after(self, last_id: str) -> bool:
        """True when entries after `last_id` may be gone: the stream restarted or was trimmed."""
        try:
            first = await self.redis.xrange(self.stream, count=1)
            newest = await self.redis.xrevrange(self.stream, count=1)
        except Exception:
            return False
        if last_id == "0-0":
            return False
        if not newest:
            return True
        first_id, newest_id = _text(first[0][0]), _text(newest[0][0])
        return _position(newest_id) < _position(last_id) or _position(first_id) > _position(last_id)
