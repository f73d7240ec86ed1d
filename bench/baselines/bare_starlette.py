"""Arm A, the ceiling: bare Starlette returning fixed bytes (the page, read from BENCH_BODY).

With BENCH_HEADERS (a JSON list of [name, value] pairs) it also sends those headers: arm A2,
the same bytes *and* the same response headers as dyndash sends, for context.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = Path(os.environ["BENCH_BODY"]).read_bytes()
HEADERS_FILE = os.environ.get("BENCH_HEADERS")
HEADERS: dict[str, str] = dict(json.loads(Path(HEADERS_FILE).read_text()) if HEADERS_FILE else [])


async def page(_request: Request) -> Response:
    return Response(BODY, media_type="text/html; charset=utf-8", headers=HEADERS)


app = Starlette(routes=[Route("/{path:path}", page)])
