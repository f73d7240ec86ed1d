"""Open streams of one key share each re-check's query (dyndash_common.web.shared_checks)."""

from __future__ import annotations

import asyncio

import pytest

from dyndash_common.web import SharedChecks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_askers_share_one_computation() -> None:
    calls = 0
    release = asyncio.Event()

    async def answer() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "ok"

    checks: SharedChecks[str] = SharedChecks()
    askers = [asyncio.create_task(checks.ask("key-1", answer)) for _ in range(1000)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*askers) == ["ok"] * 1000
    assert calls == 1


async def test_an_answer_is_shared_only_for_its_moment_and_per_question() -> None:
    clock = Clock()
    calls: list[str] = []

    async def answer_for(question: str) -> str:
        calls.append(question)
        return f"{question}#{len(calls)}"

    checks: SharedChecks[str] = SharedChecks(seconds=1.0, clock=clock)
    assert await checks.ask("a", lambda: answer_for("a")) == "a#1"
    clock.now += 0.5
    assert await checks.ask("a", lambda: answer_for("a")) == "a#1"
    assert await checks.ask("b", lambda: answer_for("b")) == "b#2"
    clock.now += 0.6  # past a's second: a revoked key is asked about again
    assert await checks.ask("a", lambda: answer_for("a")) == "a#3"
    assert calls == ["a", "b", "a"]


async def test_a_failed_computation_is_not_kept() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database unreachable")
        return "ok"

    checks: SharedChecks[str] = SharedChecks()
    with pytest.raises(ConnectionError):
        await checks.ask("k", flaky)
    assert await checks.ask("k", flaky) == "ok"
    assert attempts == 2


async def test_an_asker_cancelled_leaves_the_computation_to_the_others() -> None:
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "done"

    checks: SharedChecks[str] = SharedChecks()
    first = asyncio.create_task(checks.ask("k", slow))
    second = asyncio.create_task(checks.ask("k", slow))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
