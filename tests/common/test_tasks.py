"""Background tasks end on shutdown, even one whose cancellation was lost."""

from __future__ import annotations

import asyncio
import sys

import pytest

from dyndash_common.tasks import cancel_and_wait


async def _sends_then_reads() -> None:
    """A stream follower's shape: redis-py sends each command under `asyncio.wait_for`."""

    async def send() -> None:
        return None

    while True:
        await asyncio.wait_for(send(), 5)
        await asyncio.sleep(3600)  # the blocking read


async def _cancelled_as_its_send_finishes() -> asyncio.Task[None]:
    task = asyncio.create_task(_sends_then_reads())
    # Step 1 runs the task into wait_for; step 2 finishes the send: cancel between the two.
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    task.cancel()
    return task


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="wait_for keeps the cancellation")
async def test_wait_for_loses_a_cancellation_that_lands_as_its_work_finishes() -> None:
    """The premise (CPython gh-86296): cancelled once, the follower carries on reading."""
    task = await _cancelled_as_its_send_finishes()
    done, _ = await asyncio.wait({task}, timeout=0.5)
    assert not done
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_task_that_lost_its_cancellation_still_ends() -> None:
    task = await _cancelled_as_its_send_finishes()
    await asyncio.wait_for(cancel_and_wait([task], recancel_seconds=0.1), 5)
    assert task.done()


async def test_errors_of_the_tasks_are_dropped_and_finished_tasks_left_alone() -> None:
    async def fails() -> None:
        raise RuntimeError("a follower's Redis timeout")

    failed = asyncio.create_task(fails())
    finished = asyncio.create_task(asyncio.sleep(0))
    running = asyncio.create_task(asyncio.sleep(3600))
    await asyncio.sleep(0.01)
    await cancel_and_wait([failed, finished, running])
    assert isinstance(failed.exception(), RuntimeError)
    assert not finished.cancelled()
    assert running.cancelled()


async def test_a_cancelled_caller_still_ends_the_tasks_then_stops() -> None:
    running = asyncio.create_task(asyncio.sleep(3600))
    caller = asyncio.create_task(cancel_and_wait([running], recancel_seconds=0.1))
    await asyncio.sleep(0)
    caller.cancel()
    results = await asyncio.gather(caller, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert running.cancelled()


async def test_a_task_that_never_ends_is_left_behind_after_the_bound() -> None:
    refusing = True

    async def refuses() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if not refusing:
                    raise

    stubborn = asyncio.create_task(refuses())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([stubborn], 0.05, give_up_seconds=0.2), 5)
    assert not stubborn.done()
    refusing = False
    stubborn.cancel()
    await asyncio.gather(stubborn, return_exceptions=True)
    assert stubborn.cancelled()
