"""Budgeted rendering in worker processes that a hostile template cannot take down.

A render runs in a child process with an address-space limit (memory), a wall-clock deadline
after which the child is killed (time, including loops that never yield), and a cap on the
output it streams (size). The parent only waits on a pipe, so nothing a template does can
block its event loop; a killed worker is replaced on the next render.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from jinja2 import TemplateError

from dyndash_common.templating.meter import BudgetExceeded, metered
from dyndash_common.templating.sandbox import DashboardSandbox, SourcesLoader


@dataclass(frozen=True)
class RenderBudget:
    timeout_seconds: float = 2.0
    max_output_bytes: int = 2 * 1024 * 1024
    max_memory_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class RenderJob:
    sources: dict[str, str]
    name: str
    context: dict[str, Any]
    asset_urls: dict[str, str] = field(default_factory=dict)


class RenderError(Exception):
    """The template failed while rendering (an error in the template, not a budget overrun)."""


def render_capped(environment: DashboardSandbox, job: RenderJob, max_output_chars: int) -> str:
    """Render, stopping as soon as the streamed output passes the cap."""
    template = environment.get_template(job.name)
    parts: list[str] = []
    size = 0
    for chunk in template.generate(job.context):
        size += len(chunk)
        if size > max_output_chars:
            raise BudgetExceeded(f"output exceeds the budget of {max_output_chars} characters")
        parts.append(chunk)
    return "".join(parts)


class _JobSources(SourcesLoader):
    """The current job's sources. A template stays compiled across jobs while its source is
    unchanged (compared by value: every job brings fresh copies)."""

    def __init__(self) -> None:
        super().__init__({})

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, _, _ = super().get_source(environment, template)
        return source, None, lambda: self.sources.get(template) == source


def _worker_main(connection: Connection, budget: RenderBudget) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (budget.max_memory_bytes, budget.max_memory_bytes))
    loader = _JobSources()
    environment = DashboardSandbox(loader, cache_size=500)
    connection.send(("ready", None))
    while True:
        try:
            job: RenderJob = connection.recv()
        except (EOFError, OSError):
            return
        loader.sources = job.sources
        asset_urls = dict(job.asset_urls)
        environment.globals["asset_url"] = lambda kind, urls=asset_urls: urls.get(kind, "")
        try:
            with metered(budget.max_memory_bytes // 4):
                html = render_capped(environment, job, budget.max_output_bytes)
            connection.send(("ok", html))
        except BudgetExceeded as error:
            connection.send(("budget", str(error)))
        except MemoryError:
            connection.send(("budget", "the render ran out of its memory budget"))
        except RecursionError:
            connection.send(("budget", "the render recursed too deeply"))
        except TemplateError as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))
        except Exception as error:
            connection.send(("error", f"{type(error).__name__}: {error}"))


class _Worker:
    def __init__(self, budget: RenderBudget) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_worker_main, args=(child, budget), daemon=True, name="dyndash-render"
        )
        self.process.start()
        child.close()

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(timeout=1)
        with contextlib.suppress(Exception):
            self.connection.close()


# Starting a worker (a new interpreter importing Jinja2) is not part of any render's budget.
STARTUP_TIMEOUT_SECONDS = 60.0


class RenderPool:
    """Up to `size` concurrent renders, each in its own budgeted worker process."""

    def __init__(self, budget: RenderBudget, size: int = 2) -> None:
        self.budget = budget
        self._size = size
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Worker] = []

    async def start(self) -> None:
        """Start the worker processes now, so no render waits for an interpreter to boot."""
        missing = self._size - len(self._idle)
        self._idle.extend(await asyncio.gather(*(self._started() for _ in range(missing))))

    async def _started(self) -> _Worker:
        worker = _Worker(self.budget)
        try:
            await self._wait_readable(worker, STARTUP_TIMEOUT_SECONDS)
            status, _ = worker.connection.recv()
        except BaseException:
            worker.kill()
            raise
        if status != "ready":
            worker.kill()
            raise RenderError("the render process did not start")
        return worker

    async def render(self, job: RenderJob) -> str:
        async with self._slots:
            worker = self._idle.pop() if self._idle else await self._started()
            try:
                status, payload = await self._exchange(worker, job)
            except BaseException:
                worker.kill()
                raise
            self._idle.append(worker)
        if status == "ok":
            return str(payload)
        if status == "budget":
            raise BudgetExceeded(str(payload))
        raise RenderError(str(payload))

    @staticmethod
    async def _wait_readable(worker: _Worker, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = worker.connection.fileno()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, wake)
        try:
            await asyncio.wait_for(ready, seconds)
        finally:
            loop.remove_reader(fd)

    async def _exchange(self, worker: _Worker, job: RenderJob) -> tuple[str, Any]:
        worker.connection.send(job)
        try:
            await self._wait_readable(worker, self.budget.timeout_seconds)
        except TimeoutError:
            raise BudgetExceeded(
                f"the render ran past its time budget of {self.budget.timeout_seconds:g} s"
            ) from None
        try:
            reply: tuple[str, Any] = worker.connection.recv()
        except (EOFError, OSError):
            raise BudgetExceeded(
                "the render process died (most likely over its memory budget)"
            ) from None
        return reply

    def close(self) -> None:
        for worker in self._idle:
            worker.kill()
        self._idle.clear()
