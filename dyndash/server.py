"""The HTTP servers of the admin API and the gateway, with our limits at their edge.

The admin API runs on uvicorn; the gateway on granian (dyndash.granian_server) unless
DYNDASH_GATEWAY_SERVER=uvicorn. Everything a request meets before our application code is set
here, from settings, in one place: header size and header time caps, the error page of
requests that are not HTTP, the graceful-shutdown bound, and telling open streams to end when
a shutdown begins. uvicorn's own proxy-header handling is off: the client address is chosen by
dyndash_common.web.clients from DYNDASH_TRUSTED_PROXIES, the same way for every limiter.
"""

from __future__ import annotations

import asyncio
import http
import importlib
import signal
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
import uvloop
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from dyndash import granian_server
from dyndash_common.envelope import failure
from dyndash_common.settings import Settings
from dyndash_common.web import DRAINING_STATE_KEY

LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class HeadLimits:
    max_bytes: int
    timeout_seconds: float


class HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a request refused at its head."""


class ServerConfig(uvicorn.Config):
    """uvicorn's configuration plus our limits; pickled to each worker process with it."""

    def __init__(self, app: Any, *, limits: HeadLimits, **options: Any) -> None:
        super().__init__(app, **options)
        self.limits = limits


def _response(status: int, code: str, message: str) -> bytes:
    body = orjson.dumps(failure(code, message, None))
    head = (
        f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        "x-content-type-options: nosniff\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a cap on the request line and headers (431) and on
    the time to send them (408), and our error envelope for requests that are not HTTP (400).
    httptools itself buffers a header of any size for as long as the client likes."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, ServerConfig), "serve through dyndash.server"
        self.limits = config.limits
        # True from a request's first byte (or the connection's start) to its headers' end.
        self._in_head = True
        # Bytes received while in the head (bounds what the parser buffers), and the parsed
        # size of the request line and headers (exact, even when they arrive in one chunk).
        self._head_bytes = 0
        self._head_size = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refusal: tuple[int, str, str] | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a refusal: what the client still sends is dropped
        if not self._in_head:
            super().data_received(data)
            return
        if self._head_timer is None:
            self._arm_head_timer()
        # Counted before parsing; a chunk that also carries the body counts only until the
        # headers end inside it (on_headers_complete resets the count).
        self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.limits.max_bytes:
            self._refuse(*self._too_large())

    def _too_large(self) -> tuple[int, str, str]:
        return (
            431,
            "request_header_fields_too_large",
            f"the request line and headers exceed {self.limits.max_bytes} bytes",
        )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        if self._head_size > self.limits.max_bytes:
            # Raising stops the parser; uvicorn then calls send_400_response, which sends this.
            self._refusal = self._too_large()
            raise HeadRefused
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # what arrives next begins another request

    def send_400_response(self, msg: str) -> None:
        self._refuse(*(self._refusal or (400, "bad_request", "the request is not valid HTTP/1.1")))

    def shutdown(self) -> None:
        # Open streams end on this signal; without it a browser tab holds the shutdown.
        draining = self.app_state.get(DRAINING_STATE_KEY)
        if isinstance(draining, asyncio.Event):
            draining.set()
        super().shutdown()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.timeout_seconds, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head:
            self._refuse(
                408,
                "request_timeout",
                f"the request headers did not arrive within {self.limits.timeout_seconds:g} s",
            )

    def _refuse(self, status: int, code: str, message: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._disarm_head_timer()
        self.logger.info("request_refused", extra={"details": {"status": status, "code": code}})
        # A response still being written on this connection cannot be followed by another.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_response(status, code, message))
        # Closing with the client's bytes unread would reset the connection, and the client
        # would lose the answer: end our side, drop what still arrives, close a moment later.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()


def server_config(
    app: Any, settings: Settings, *, host: str, port: int, **options: Any
) -> ServerConfig:
    return ServerConfig(
        app,
        limits=HeadLimits(settings.max_header_bytes, settings.header_timeout_seconds),
        host=host,
        port=port,
        http=GuardedHttpProtocol,
        log_config=None,
        access_log=settings.access_log,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        **options,
    )


def run(config: ServerConfig) -> None:
    """Serve until SIGTERM/SIGINT, in one process or `config.workers`."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


def _load(target: str) -> ASGIApp:
    """The app made by a `module:factory` string."""
    module, _, name = target.partition(":")
    app: ASGIApp = getattr(importlib.import_module(module), name)()
    return app


def run_gateway(target: str, settings: Settings, *, host: str, port: int) -> None:
    """The gateway made by `target` (a `module:factory`), on the server the settings choose,
    until SIGTERM/SIGINT."""
    if settings.gateway_server == "uvicorn":
        run(
            server_config(
                target, settings, host=host, port=port, factory=True, workers=settings.workers
            )
        )
        return
    app = _load(target)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await granian_server.serve(app, settings, host=host, port=port, stop=stop)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


async def serve_gateway(
    app: ASGIApp, settings: Settings, *, host: str, port: int, stop: asyncio.Event
) -> None:
    """The gateway in the running event loop until `stop` is set (`dyndash dev`)."""
    if settings.gateway_server == "granian":
        await granian_server.serve(app, settings, host=host, port=port, stop=stop)
        return
    server = uvicorn.Server(server_config(app, settings, host=host, port=port))
    serving = asyncio.create_task(server.serve())
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    server.should_exit = True
    await serving
