"""One answer to the same question, shared by everyone who asks within a moment.

Each open stream re-checks its key every few seconds (web.streams). Asked one by one, a
thousand streams of one key would cost a query each every time; shared, they cost one query
per key per SHARED_SECONDS, however many streams hold it, and a revoked key still loses its
streams within a recheck period plus SHARED_SECONDS.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")
SHARED_SECONDS = 1.0
# Past this many questions the oldest answers go (only live streams keep asking).
MAX_ENTRIES = 10_000


class SharedChecks(Generic[T]):
    """`ask(question, answer)`: `answer()`'s result, computed at most once per question per
    `seconds`; concurrent askers wait for the same computation."""

    def __init__(
        self, seconds: float = SHARED_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._answers: dict[Hashable, tuple[float, asyncio.Future[T]]] = {}

    async def ask(self, question: Hashable, answer: Callable[[], Awaitable[T]]) -> T:
        now = self._clock()
        known = self._answers.get(question)
        if known is not None and now - known[0] < self.seconds and _usable(known[1]):
            return await asyncio.shield(known[1])
        if len(self._answers) >= MAX_ENTRIES:
            self._prune(now)
        future: asyncio.Future[T] = asyncio.ensure_future(answer())
        self._answers[question] = (now, future)
        return await asyncio.shield(future)

    def _prune(self, now: float) -> None:
        for question, (asked, _) in list(self._answers.items()):
            if now - asked >= self.seconds:
                del self._answers[question]
        if len(self._answers) >= MAX_ENTRIES:
            self._answers.clear()


def _usable(future: asyncio.Future[T]) -> bool:
    """Pending or answered: a failed or cancelled computation is not kept, the next asker
    tries again."""
    return not future.done() or (not future.cancelled() and future.exception() is None)
