"""The gateway on granian: its Rust HTTP/1.1 server, embedded in this process's event loop.

What uvicorn does for us elsewhere in dyndash.server is done here around granian: the app's
lifespan start-up and shutdown, open streams told to end when a shutdown begins, requests in
flight given DYNDASH_SHUTDOWN_TIMEOUT_SECONDS and then cancelled, and JSON access lines with
the request's id. The header caps are granian's own (hyper's): over DYNDASH_MAX_HEADER_BYTES
(at least 8 KiB, hyper's smallest buffer) a bodiless 431; headers slower than
DYNDASH_HEADER_TIMEOUT_SECONDS close the connection without an answer; bytes that are not
HTTP get a bodiless 400. No proxy header is read: the client address is the TCP peer, as
dyndash_common.web.clients expects.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

from granian._futures import _future_watcher_wrapper, _new_cbscheduler
from granian._granian import ASGIWorker
from granian.asgi import LifespanProtocol
from granian.asgi import _callback_wrapper as asgi_callback
from granian.constants import HTTPModes, Interfaces, TaskImpl
from granian.http import HTTP1Settings
from granian.log import LogLevels
from granian.server.embed import AsyncWorker, Server
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dyndash_common.settings import Settings
from dyndash_common.web import DRAINING_STATE_KEY

# The start-up and shutdown lines uvicorn writes, under the same words: operators and the
# health tooling wait for them whichever server runs.
log = logging.getLogger("granian.error")
access = logging.getLogger("granian.access")
# After the requests in flight are done or cancelled, how long granian may take to close.
CLOSE_SECONDS = 2.0
# Requests in flight that are not live streams: granian admits at most live_max_streams plus
# this many at once (its `backpressure`; its default, backlog / workers = 1,024, was shared with
# streams, so 1,024 open streams left no room for a page or a health check). Open streams are
# capped below it by the gateway itself (README, "Security: what is enforced where").
REQUEST_SLOTS = 1024
# hyper refuses a read buffer smaller than this.
MIN_BUFFER_BYTES = 8192
# granian's loggers go to the root handler (our JSON lines), not to its own stdout handlers.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"_granian": {"propagate": True}, "granian.access": {"propagate": True}},
}


class StartupFailed(RuntimeError):
    pass


class Edge:
    """Every request passes here: it gets the lifespan's state in its scope, is counted in
    flight so a shutdown can wait for it, and is logged when access lines are on."""

    def __init__(self, app: ASGIApp, state: dict[str, Any], access_log: bool) -> None:
        self.app = app
        self.state = state
        self.access_log = access_log
        self.running: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["state"] = self.state.copy()
        task = asyncio.current_task()
        assert task is not None
        self.running.add(task)
        try:
            if self.access_log and scope["type"] == "http":
                await self._logged(scope, receive, send)
            else:
                await self.app(scope, receive, send)
        finally:
            self.running.discard(task)

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 0
        request_id = ""

        async def observed(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-request-id":
                        request_id = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            query = scope["query_string"].decode("latin-1")
            access.info(
                '%s - "%s %s HTTP/%s" %d',
                scope["client"][0] if scope.get("client") else "-",
                scope["method"],
                scope["path"] + (f"?{query}" if query else ""),
                scope["http_version"],
                status,
                extra={"details": {"request_id": request_id}} if request_id else None,
            )

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for the requests in flight, then cancel what is left."""
        if self.running:
            await asyncio.wait(set(self.running), timeout=seconds)
        left = set(self.running)
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)


async def _single_thread_worker(
    worker_id: int,
    shutdown_event: Any,
    callback: Any,
    sock: Any,
    loop: Any,
    runtime_threads: int,
    runtime_blocking_threads: int | None,
    blocking_threads: int,
    blocking_threads_idle_timeout: int,
    backpressure: int,
    task_impl: TaskImpl,
    http_mode: HTTPModes,
    http1_settings: HTTP1Settings | None,
    http2_settings: Any,
    websockets: bool,
    static_path: Any,
    log_access_fmt: str | None,
    ssl_ctx: Any,
    scope_opts: dict[str, Any],
) -> None:
    """granian's embedded ASGI worker (granian.server.embed.Server._spawn_asgi_worker), started
    with `serve_str`, the single-threaded runtime `granian` run from the command line uses for one
    runtime thread, instead of the embedded server's `serve_async` (its runtime driven as a local
    task set). Measured on the 11 KB bench page: about 10 % more pages per second for the same
    app. Private granian API, hence the `granian>=2.8,<2.9` bound."""
    wcallback = _future_watcher_wrapper(asgi_callback(callback, scope_opts, {}, log_access_fmt))
    finished = loop.create_future()

    def shutdown_glue() -> None:
        loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    shutdown_event.add_cb(shutdown_glue)
    worker = _ASGI_WORKER(
        worker_id,
        sock,
        None,
        runtime_threads,
        runtime_blocking_threads,
        blocking_threads,
        blocking_threads_idle_timeout,
        backpressure,
        http_mode,
        http1_settings,
        http2_settings,
        websockets,
        static_path,
        *ssl_ctx,
        (None, None),
    )
    scheduler = _new_cbscheduler(loop, wcallback, impl_asyncio=task_impl == TaskImpl.asyncio)
    worker.serve_str(scheduler, loop, shutdown_event)
    await finished


# granian's type stub of its worker lags the constructor the embedded server itself calls.
_ASGI_WORKER: Any = ASGIWorker
SINGLE_THREAD_WORKER: Any = AsyncWorker.wrap_target(_single_thread_worker)


def in_flight_cap(settings: Settings) -> int:
    return settings.live_max_streams + REQUEST_SLOTS


def _allow_open_files(needed: int) -> None:
    """Raise the soft limit on open files to the hard one: each stream holds a socket, and the
    usual soft limit of 1,024 would refuse connections long before the stream cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "open file limit %d is below the %d connections DYNDASH_LIVE_MAX_STREAMS allows",
            soft,
            needed,
        )


def _server(edge: Edge, settings: Settings, host: str, port: int) -> Server:
    return Server(
        edge,
        address=host,
        port=port,
        # Lifespan is ours (below), so the shutdown can drain before the app cleans up.
        interface=Interfaces.ASGINL,
        http=HTTPModes.http1,
        websockets=False,
        backlog=1024,
        backpressure=in_flight_cap(settings),
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.header_timeout_seconds * 1000),
            max_buffer_size=max(MIN_BUFFER_BYTES, settings.max_header_bytes),
        ),
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=LOG_CONFIG,
    )


async def _listening(host: str, port: int, serving: asyncio.Task[None]) -> None:
    """Return once the port takes connections (granian binds in its own runtime, a moment
    after it starts), so "startup complete" means what it says."""
    address = "127.0.0.1" if host in ("", "0.0.0.0") else "::1" if host == "::" else host  # noqa: S104
    while not serving.done():
        try:
            _, writer = await asyncio.open_connection(address, port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        return


async def serve(
    app: ASGIApp, settings: Settings, *, host: str, port: int, stop: asyncio.Event
) -> None:
    """Serve `app` until `stop` is set, then shut down within the shutdown bound."""
    lifespan = LifespanProtocol(app)
    await lifespan.startup()
    if lifespan.interrupt:
        raise StartupFailed("the application's start-up failed") from lifespan.exc
    edge = Edge(app, lifespan.state, settings.access_log)
    _allow_open_files(in_flight_cap(settings) + 256)
    server = _server(edge, settings, host, port)
    serving = asyncio.create_task(server.serve(SINGLE_THREAD_WORKER))
    stopping = asyncio.create_task(stop.wait())
    try:
        await _listening(host, port, serving)
        log.info("Application startup complete.")
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        # Streams end first (a browser tab would otherwise hold the shutdown to its bound),
        # then no new connection is taken while the requests in flight finish.
        draining = lifespan.state.get(DRAINING_STATE_KEY)
        if isinstance(draining, asyncio.Event):
            draining.set()
        if not serving.done():
            server.stop()
        # granian waits for its open connections to finish; ours are bounded here.
        await edge.drain(settings.shutdown_timeout_seconds)
        await asyncio.wait({serving}, timeout=CLOSE_SECONDS)
        if not serving.done():
            serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await lifespan.shutdown()
        log.info("Application shutdown complete.")
    if not serving.cancelled():
        serving.result()  # a server that ended by itself failed: say why
