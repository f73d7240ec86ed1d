"""Budgeted rendering inside the serving process: how the gateway rendered its misses before
renders moved to child processes, kept as the baseline of `bench.cold_miss`.

Renders run on a small thread pool, off the event loop, so cached pages keep flowing while a
slow template renders. Each render is bounded in:

- time: a watchdog thread raises `RenderTimeout` inside the rendering thread at its deadline
  (`PyThreadState_SetAsyncExc`), which stops any loop of template code; the single C calls
  that could outlast it are refused up front by the sandbox;
- output: the stream of chunks is cut at the cap;
- memory: the sandbox charges every string an amplifying operation builds to a per-render
  meter, and refuses any one value over its size limit.

It cannot stop a long C call, a crash or memory growth outside the meter: that is why the
shipped services render in `dyndash_common.templating.pool` instead.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from jinja2 import Template

from dyndash_common.errors import BudgetExceeded
from dyndash_common.templating import RenderBudget, metered

T = TypeVar("T")


class RenderTimeout(BudgetExceeded):
    """Raised asynchronously inside a render that passed its deadline."""


class _Watchdog:
    """Fires RenderTimeout into a render thread past its deadline.

    It sleeps until the earliest pending deadline, or until a render starts when none is
    pending: a thread waking on a fixed tick would take the GIL from the event loop dozens
    of times a second on a gateway that renders nothing (measurable on the hot path).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._deadlines: dict[int, float] = {}
        self._fired: set[int] = set()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name="dyndash-render-watchdog", daemon=True
        )
        self._thread.start()

    def watch(self, thread_id: int, deadline: float) -> None:
        with self._lock:
            self._deadlines[thread_id] = deadline
            self._wake.notify()

    def release(self, thread_id: int) -> None:
        # The timeout may land while we are here; retry until the bookkeeping is done, then
        # cancel a timeout that was fired but not yet delivered.
        while True:
            try:
                with self._lock:
                    self._deadlines.pop(thread_id, None)
                    if thread_id in self._fired:
                        self._fired.discard(thread_id)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
                return
            except RenderTimeout:
                continue

    def _run(self) -> None:
        with self._lock:
            while not self._stopped:
                pending = [d for t, d in self._deadlines.items() if t not in self._fired]
                if not pending:
                    self._wake.wait()
                    continue
                remaining = min(pending) - time.monotonic()
                if remaining > 0:
                    self._wake.wait(remaining)
                    continue
                now = time.monotonic()
                for thread_id, deadline in list(self._deadlines.items()):
                    if now >= deadline and thread_id not in self._fired:
                        self._fired.add(thread_id)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(thread_id), ctypes.py_object(RenderTimeout)
                        )

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._wake.notify()


class InlineRenderer:
    def __init__(self, budget: RenderBudget, threads: int = 2) -> None:
        self.budget = budget
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="dyndash-render")
        self._watchdog = _Watchdog()

    async def render(self, template: Template, context: dict[str, Any]) -> str:
        return await self.run(lambda: self.render_sync(template, context))

    async def run(self, work: Callable[[], T]) -> T:
        """Run `work` on a render thread under the time and memory budget."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._guarded, work)

    def _guarded(self, work: Callable[[], T]) -> T:
        thread_id = threading.get_ident()
        self._watchdog.watch(thread_id, time.monotonic() + self.budget.timeout_seconds)
        try:
            with metered(self.budget.max_memory_bytes // 4):
                return work()
        except RenderTimeout:
            raise BudgetExceeded(
                f"the render ran past its time budget of {self.budget.timeout_seconds:g} s"
            ) from None
        except RecursionError:
            raise BudgetExceeded("the render recursed too deeply") from None
        except MemoryError:
            raise BudgetExceeded("the render ran out of memory") from None
        finally:
            self._watchdog.release(thread_id)

    def render_sync(self, template: Template, context: dict[str, Any]) -> str:
        """Render with the output cap; call it inside `run` for the other budgets."""
        parts: list[str] = []
        size = 0
        limit = self.budget.max_output_bytes
        for chunk in template.generate(context):
            size += len(chunk)
            if size > limit:
                raise BudgetExceeded(f"output exceeds the budget of {limit} characters")
            parts.append(chunk)
        return "".join(parts)

    def close(self) -> None:
        self._watchdog.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
