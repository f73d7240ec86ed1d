"""How late each process's event loop runs: the sign of work that holds it.

A ticker asks to wake every TICK_SECONDS and records how much later than asked it woke. Any
stretch in which the loop cannot run (a long synchronous call, a C call holding the GIL)
shows up as lag on the next tick, so the histogram says whether pages, `/healthz` and the
event followers were kept waiting.
"""

from __future__ import annotations

import asyncio
import gc

from dyndash_common.metrics import EVENT_LOOP_LAG

TICK_SECONDS = 0.05


async def sample_loop_lag(interval: float = TICK_SECONDS) -> None:
    """Run until cancelled, recording each tick's lag in `dyndash_event_loop_lag_seconds`."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, loop.time() - due))


def settle_heap() -> None:
    """Collect once, then move what start-up allocated into the permanent generation: later
    full collections skip those objects (most of a service's heap). A side effect: objects
    leaked before this point are never collected, so their ResourceWarnings never show."""
    gc.collect()
    gc.freeze()
