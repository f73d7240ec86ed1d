"""A pool of warm render processes: every admin-authored template is compiled and rendered
there, never in a serving process.

Each child (`dyndash_common.templating.child`) runs under an address-space limit (memory) and a
CPU-time limit, and the parent kills it at a wall-clock deadline. A child that dies — a C
stack overflow, out of memory, killed at the deadline or by the CPU limit — costs only that
render a budget failure: the parent starts a replacement and carries on. The parent only waits
on pipes, so no template can hold its event loop, however long its C calls run.

Children are forked from a small fork server that has Jinja2 and the sandbox imported, so a
replacement is ready in milliseconds and holds nothing of the serving process's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerProcess, set_spawning_popen
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

import orjson

from dyndash_common.errors import BudgetExceeded, RenderError, TemplateInvalid
from dyndash_common.tasks import cancel_and_wait
from dyndash_common.templating.child import serve
from dyndash_common.templating.validation import references_from_reply

if TYPE_CHECKING:
    from dyndash_common.settings import Settings

# Starting a process is not part of any render's budget.
STARTUP_TIMEOUT_SECONDS = 60.0
_CHILD_MODULE = "dyndash_common.templating.child"
_PICKLE_PROTOCOL = pickle.HIGHEST_PROTOCOL


@dataclass(frozen=True)
class RenderBudget:
    timeout_seconds: float = 2.0
    max_output_bytes: int = 2 * 1024 * 1024
    max_memory_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> RenderBudget:
        return cls(
            timeout_seconds=settings.render_timeout_seconds,
            max_output_bytes=settings.render_max_output_bytes,
            max_memory_bytes=settings.render_max_memory_bytes,
        )


@dataclass(frozen=True)
class RenderJob:
    """Render template `name`; `sources` holds it and everything it reaches, each as
    (version key, source). The version key must change whenever the source does."""

    name: str
    sources: dict[str, tuple[str, str]]
    context: dict[str, Any]
    asset_urls: dict[str, str] = field(default_factory=dict)


def source_key(source: str) -> str:
    """A version key for a source that has no version of its own (previews, built-ins)."""
    return hashlib.blake2b(source.encode(), digest_size=12).hexdigest()


class _LeanPopen(popen_forkserver.Popen):
    """The fork server's launch, without re-running the serving process's `__main__` in the
    child. multiprocessing makes each child import it again: for `dyndash gateway` that is
    the whole CLI, measured at about 6 s and 66 MB per render process instead of 10 ms and
    24 MB. The child needs only what the fork server preloaded. (This follows CPython's
    `popen_forkserver.Popen._launch`, minus the two `init_main_*` entries.)"""

    def _launch(self, process_obj: Any) -> None:
        prep_data = spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_name", None)
        prep_data.pop("init_main_from_path", None)
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        # Typeshed leaves out these internals of the class and module we follow.
        fds = self._fds  # type: ignore[attr-defined]
        self.sentinel, w = forkserver.connect_to_new_process(fds)
        parent_w = os.dup(w)
        close_fds = util.close_fds  # type: ignore[attr-defined]
        self.finalizer = util.Finalize(self, close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _RenderProcess(ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _LeanPopen:
        return _LeanPopen(process_obj)


class _Child:
    """One render process and the template versions it has been sent."""

    def __init__(self, context: Any, budget: RenderBudget) -> None:
        self.connection, child_end = context.Pipe()
        self.process: BaseProcess = _RenderProcess(
            target=serve,
            args=(child_end,),
            kwargs={
                "max_memory_bytes": budget.max_memory_bytes,
                "max_output_chars": budget.max_output_bytes,
                "cpu_seconds": budget.timeout_seconds,
            },
            daemon=True,
            name="dyndash-render",
        )
        self.process.start()
        child_end.close()
        self.known: dict[str, str] = {}

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.connection.close()

    def death(self) -> str:
        """Why the process ended, as a budget message (call once it has died)."""
        self.process.join(timeout=1)
        code = self.process.exitcode
        if code == -signal.SIGXCPU:
            return "the render used up its CPU time budget"
        if code in (-signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT):
            return "the render crashed its process (a stack overflow or a fault in a C call)"
        if code == -signal.SIGKILL:
            return "the render process was killed (most likely over its memory budget)"
        return "the render process died (most likely over its memory budget)"


class RenderPool:
    """Up to `size` concurrent renders and compiles, each in a budgeted child process."""

    def __init__(self, budget: RenderBudget, size: int = 2) -> None:
        self.budget = budget
        self.size = size
        self._context = multiprocessing.get_context("forkserver")
        # The fork server imports only what a child needs (not the serving process's
        # __main__), so each fork starts warm and small.
        self._context.set_forkserver_preload([_CHILD_MODULE])
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._replacing: set[asyncio.Task[None]] = set()
        self._closed = False
        self.replaced = 0

    @property
    def pids(self) -> list[int]:
        """The process ids of the render processes, busy ones first."""
        children = [*self._busy, *self._idle]
        return [child.process.pid for child in children if child.process.pid is not None]

    async def start(self) -> None:
        """Start the children now, so no render waits for a process to boot."""
        missing = self.size - len(self._idle)
        started = await asyncio.gather(*(self._started() for _ in range(missing)))
        self._idle.extend(started)

    async def _started(self) -> _Child:
        loop = asyncio.get_running_loop()
        # Process start talks to the fork server (and starts it the first time): off the loop.
        child = await loop.run_in_executor(None, _Child, self._context, self.budget)
        try:
            await _readable(child.connection, STARTUP_TIMEOUT_SECONDS)
            status, _ = orjson.loads(child.connection.recv_bytes())
        except BaseException:
            child.kill()
            raise
        if status != "ready":
            child.kill()
            raise RenderError("the render process did not start")
        return child

    async def render(self, job: RenderJob, admit: Callable[[], None] | None = None) -> str:
        """The rendered HTML; BudgetExceeded past a budget, RenderError on a template error.

        `admit` runs once a process is free, right before the job is sent: it may refuse the
        job by raising (a render queued behind one that just failed its budget).
        """

        def message(child: _Child) -> dict[str, Any]:
            fresh = [
                [name, version, source]
                for name, (version, source) in job.sources.items()
                if child.known.get(name) != version
            ]
            return {
                "op": "render",
                "name": job.name,
                "sources": fresh,
                "context": job.context,
                "asset_urls": job.asset_urls,
            }

        def sent(child: _Child) -> None:
            child.known.update({name: version for name, (version, _) in job.sources.items()})

        status, payload = await self._run(message, sent, self.budget.timeout_seconds, admit)
        if status == "ok":
            return str(payload)
        if status == "budget":
            raise BudgetExceeded(str(payload))
        raise RenderError(str(payload))

    async def references(self, source: str, *, field: str = "html_content") -> list[str]:
        """Compile `source` in a child; the templates it names. TemplateInvalid when it does
        not compile, names a template by a computed name, or cannot compile within the render
        budget (a template that cannot would fail every render, which compiles it first)."""
        try:
            status, payload = await self._run(
                lambda _: {"op": "compile", "source": source, "field": field},
                lambda _: None,
                self.budget.timeout_seconds,
            )
        except BudgetExceeded as error:
            raise TemplateInvalid(
                f"{field}: the template could not be compiled within its budget ({error})",
                details={"field": field, "reason": "budget"},
            ) from None
        return references_from_reply(status, payload, field)

    async def _run(
        self,
        build: Callable[[_Child], dict[str, Any]],
        sent: Callable[[_Child], None],
        deadline: float,
        admit: Callable[[], None] | None = None,
    ) -> tuple[str, Any]:
        async with self._slots:
            if admit is not None:
                admit()
            child = self._idle.pop() if self._idle else await self._started()
            self._busy.add(child)
            try:
                child.connection.send_bytes(pickle.dumps(build(child), _PICKLE_PROTOCOL))
                sent(child)
                await _readable(child.connection, deadline)
                reply = orjson.loads(child.connection.recv_bytes())
            except TimeoutError:
                child.kill()
                self._replace()
                raise BudgetExceeded(
                    f"the render ran past its time budget of {deadline:g} s"
                ) from None
            except (EOFError, OSError):
                why = await asyncio.get_running_loop().run_in_executor(None, child.death)
                child.kill()
                self._replace()
                raise BudgetExceeded(why) from None
            except BaseException:
                child.kill()
                self._replace()
                raise
            finally:
                self._busy.discard(child)
            status = str(reply[0])
            if status == "budget":
                # Whatever it allocated on the way (a MemoryError leaves a fragmented heap)
                # goes with the process.
                child.kill()
                self._replace()
            else:
                self._idle.append(child)
            return status, reply[1]

    def _replace(self) -> None:
        """Start a replacement child in the background, so the next render finds one warm."""
        self.replaced += 1
        if self._closed:
            return

        async def replace() -> None:
            try:
                child = await self._started()
            except Exception:
                return  # the next render starts one itself
            if self._closed or len(self._idle) >= self.size:
                child.kill()
            else:
                self._idle.append(child)

        task = asyncio.get_running_loop().create_task(replace())
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def aclose(self) -> None:
        self._closed = True
        await cancel_and_wait(list(self._replacing))
        self.close()

    def close(self) -> None:
        self._closed = True
        for child in self._idle:
            child.kill()
        self._idle.clear()


async def _readable(connection: Connection, seconds: float) -> None:
    """Wait until `connection` has data (or its end closed), at most `seconds`."""
    if connection.poll():
        return
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    fd = connection.fileno()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, seconds)
    finally:
        loop.remove_reader(fd)
        # uvloop (the gateway's loop on granian) leaves a watched fd non-blocking: the reply's
        # read would then fail with EAGAIN once a reply outgrows the pipe buffer (64 KiB),
        # which read as the child's death. The child writes its whole reply at once.
        os.set_blocking(fd, True)
