"""Change events: the outbox, the bus adapters and the sweeper."""

from __future__ import annotations

from dyndash_common.events.bus import EventBus, InProcessBus, Subscription
from dyndash_common.events.feed import follow
from dyndash_common.events.model import ChangeEvent, EntityRef
from dyndash_common.events.publisher import run_sweeper, sweep_once
from dyndash_common.events.stream import StreamReader, stream_key

__all__ = [
    "ChangeEvent",
    "EntityRef",
    "EventBus",
    "InProcessBus",
    "StreamReader",
    "Subscription",
    "follow",
    "run_sweeper",
    "stream_key",
    "sweep_once",
]
