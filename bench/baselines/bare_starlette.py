"""Arm A, the ceiling: bare Starlette returning fixed bytes (the page, read from BENCH_BODY)."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ["BENCH_BODY"]).read_bytes()


async def page(_request: Request) -> Response:
    return Response(BODY, media_type="text/html; charset=utf-8")


app = Starlette(routes=[Route("/{path:path}", page)])
