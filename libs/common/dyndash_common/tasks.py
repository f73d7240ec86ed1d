"""Ending background tasks for sure, even one that let a cancellation slip past.

Python 3.11's `asyncio.wait_for` returns the inner result when the inner work finished in the
same step as the cancellation of the task awaiting it, and the cancellation is lost (CPython
gh-86296, fixed in 3.12). redis-py sends every command under `wait_for`, so a stream follower
cancelled just as it sent its next `XREAD` carried on reading, and a shutdown that cancelled it
once and awaited it waited forever (a renderer worker's close hung this way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("dyndash.tasks")

# How long a cancelled task may take to finish its clean-up before it is cancelled again. Long
# enough for a clean-up (closing a connection); short enough for a shutdown's bound.
RECANCEL_SECONDS = 2.0
# Past this, a task that keeps refusing to end is left behind (and named in the log) rather
# than holding the shutdown for ever.
GIVE_UP_SECONDS = 10.0


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any]],
    recancel_seconds: float = RECANCEL_SECONDS,
    give_up_seconds: float = GIVE_UP_SECONDS,
) -> None:
    """Cancel `tasks` and return once every one has ended, cancelling again any still running
    after `recancel_seconds`. Their results and errors are dropped: the caller is stopping.

    A cancellation of the caller while it waits does not abandon the tasks: they are still
    cancelled and waited for, then the caller's cancellation goes on."""
    every = set(tasks)
    pending = {task for task in every if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_seconds
    caller_cancelled = False
    for task in pending:
        task.cancel()
    while pending:
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("tasks_not_ended", extra={"details": {"tasks": [repr(t) for t in pending]}})
            break
        try:
            _, pending = await asyncio.wait(pending, timeout=min(recancel_seconds, remaining))
        except asyncio.CancelledError:
            caller_cancelled = True
            pending = {task for task in pending if not task.done()}
        for task in pending:
            task.cancel()
    for task in every:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved, so asyncio logs no "never retrieved" error
    if caller_cancelled:
        raise asyncio.CancelledError
