"""The in-process limiter: a fixed window per identity, and no per-hit cost in identities."""

from __future__ import annotations

from dyndash_common.ratelimit import InProcessRateLimiter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_a_window_allows_the_limit_then_refuses_until_the_next_window() -> None:
    clock = Clock(1000.0)
    limiter = InProcessRateLimiter(3, 60, clock)
    decisions = [await limiter.hit("a") for _ in range(4)]
    assert [decision.allowed for decision in decisions] == [True, True, True, False]
    assert [decision.remaining for decision in decisions] == [2, 1, 0, 0]
    assert decisions[-1].headers()["Retry-After"] == "20"  # 1000 s is 40 s into its window
    assert (await limiter.hit("b")).allowed, "identities are counted apart"
    clock.now = 1020.0
    fresh = await limiter.hit("a")
    assert fresh.allowed
    assert fresh.remaining == 2
    assert fresh.reset_seconds == 60


async def test_a_new_window_drops_the_old_counters_wholesale() -> None:
    clock = Clock(0.0)
    limiter = InProcessRateLimiter(5, 10, clock)
    for number in range(200_000):
        await limiter.hit(f"client-{number}")
    assert len(limiter._counts) == 200_000
    # Hits inside the window touch only their own counter: nothing is swept per hit.
    await limiter.hit("client-0")
    assert len(limiter._counts) == 200_000
    assert limiter._counts["client-0"] == 2
    clock.now = 10.0
    await limiter.hit("late")
    assert limiter._counts == {"late": 1}
