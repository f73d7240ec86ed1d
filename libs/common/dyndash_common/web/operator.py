"""The operator port: `GET /metrics` on a listener of its own, off the public one.

A proxy's path rules compare literal paths while servers decode them (`/%6detrics` is
`/metrics` to the framework), so the only dependable way to keep metrics from the internet is
not to serve them on the public port at all. This listener is plain asyncio, independent of
the HTTP server the services run on: one request per connection, its head bounded in size and
time, its answer written within a deadline, a bounded number of connections at once. Nothing
here can be held open by a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from http import HTTPStatus

from prometheus_client import CONTENT_TYPE_LATEST

from dyndash_common.settings import Settings

log = logging.getLogger("dyndash.operator")

# Prometheus sends a request line and a handful of headers: a few hundred bytes.
MAX_HEAD_BYTES = 8192
HEAD_TIMEOUT_SECONDS = 5.0
WRITE_TIMEOUT_SECONDS = 10.0
# Scrapers are one or two Prometheus servers; more connections than this are closed unread.
MAX_CONNECTIONS = 16
METRICS_PATH = b"/metrics"

Scrape = Callable[[], Awaitable[bytes]]


class OperatorServer:
    """Answers `GET /metrics` with `scrape()`; 405 for other methods there, 404 for every
    other path, matched on the path exactly as sent (no decoding)."""

    def __init__(self, host: str, port: int, scrape: Scrape, *, reuse_port: bool = False) -> None:
        self.host = host
        self.port = port
        self.scrape = scrape
        self.reuse_port = reuse_port
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        assert self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(
                self._handle,
                self.host,
                self.port,
                limit=MAX_HEAD_BYTES,
                reuse_port=self.reuse_port or None,
            )
        except OSError as error:
            # Two services on one host with the default port: say which setting to change.
            raise OSError(
                error.errno,
                f"cannot listen on {self.host}:{self.port} for /metrics "
                f"(DYNDASH_METRICS_PORT; 0 turns it off): {error.strerror}",
            ) from error
        log.info(
            "operator_port_open", extra={"details": {"host": self.host, "port": self.bound_port}}
        )

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # Python 3.11's wait_closed does not wait for open connections: end them here. Closing
        # the sockets (not cancelling the handlers) lets each handler finish on its own.
        for writer in self._open.values():
            writer.transport.abort()
        await asyncio.gather(*self._open, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self._open) >= MAX_CONNECTIONS:
            writer.transport.abort()
            return
        self._open[task] = writer
        try:
            status, body, extra = await self._answer(reader)
            await self._send(writer, status, body, extra)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or was too slow: nothing to tell it
        finally:
            del self._open[task]
            writer.close()
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                writer.transport.abort()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes, dict[str, str]]:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return 431, b"request head too large\n", {}
        except TimeoutError:
            return 408, b"request head too slow\n", {}
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
            return 400, b"not an HTTP/1 request\n", {}
        method, target, _version = parts
        # The path as sent: `/%6detrics` is not `/metrics` here either.
        if target.partition(b"?")[0] != METRICS_PATH:
            return 404, b"not found\n", {}
        if method != b"GET":
            return 405, b"method not allowed\n", {"Allow": "GET"}
        try:
            body = await self.scrape()
        except Exception:
            log.exception("metrics_scrape_failed")
            return 500, b"scrape failed\n", {}
        return 200, body, {"Content-Type": CONTENT_TYPE_LATEST}

    async def _send(
        self, writer: asyncio.StreamWriter, status: int, body: bytes, extra: dict[str, str]
    ) -> None:
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Content-Length": str(len(body)),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Connection": "close",
            **extra,
        }
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
            await writer.drain()


@asynccontextmanager
async def operator_port(settings: Settings, scrape: Scrape) -> AsyncIterator[OperatorServer | None]:
    """The service's operator listener for the block; none when `DYNDASH_METRICS_PORT` is 0."""
    if not settings.metrics_port:
        yield None
        return
    # Several server processes of one instance (DYNDASH_WORKERS > 1) share the port; a scrape
    # then reaches one of them, as it did on the public port.
    server = OperatorServer(
        settings.metrics_host, settings.metrics_port, scrape, reuse_port=settings.workers > 1
    )
    await server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            await server.close()
