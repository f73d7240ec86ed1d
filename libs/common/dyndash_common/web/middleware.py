"""Pure ASGI middleware: request ids, and a hard cap on request body size."""

from __future__ import annotations

import itertools
import os
import re

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dyndash_common.envelope import failure
from dyndash_common.errors import BodyTooLarge
from dyndash_common.logs import request_id

NOSNIFF = (b"x-content-type-options", b"nosniff")
# What a client may choose as its request id: it is echoed as a header and written into logs.
_ACCEPTED_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


# Generated ids: a random per-process prefix and a counter. Unique across instances without
# a random-number syscall per request (that alone cost several microseconds on the hot path).
_ID_PREFIX = os.urandom(4).hex()
_id_sequence = itertools.count()


def request_id_for(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's X-Request-ID when it is a plain token, else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and _ACCEPTED_REQUEST_ID.fullmatch(value):
            return value
    return f"{_ID_PREFIX}{next(_id_sequence) & 0xFFFFFFFF:08x}".encode()


class RequestIdMiddleware:
    """Carries X-Request-ID (generated when absent) into every log line and the response, and
    marks every response `nosniff`: a JSON error body must never be sniffed into HTML."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = request_id_for(scope["headers"])
        token = request_id.set(current.decode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", current),
                    NOSNIFF,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class BodyLimitMiddleware:
    """413 for a body over the limit, whether announced by Content-Length or streamed.
    `per_path` gives exact paths a limit of their own (a site apply carries a whole site)."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.max_bytes)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._reject(send, limit)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send, limit)

    async def _reject(self, send: Send, limit: int) -> None:
        body = orjson.dumps(
            failure(
                "payload_too_large",
                f"the request body exceeds the limit of {limit} bytes",
                {"limit_bytes": limit},
            )
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
