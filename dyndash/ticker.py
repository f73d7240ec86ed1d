"""`dyndash dev`'s ticker: every few seconds it pushes the demo's next data through the admin
API, as any client would, so the page's live updates can be watched."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Any

from dyndash import showcase

INTERVAL_SECONDS = 3.0
log = logging.getLogger("dyndash.ticker")


def _call(base: str, key: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (our own admin API, http on loopback)
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())["data"]


def _widget_ids(base: str, key: str) -> dict[str, int]:
    dashboards = _call(base, key, "GET", "/api/v1/dashboards?limit=100")["items"]
    found = [d["id"] for d in dashboards if d["name"] == showcase.NAME]
    if not found:
        return {}
    items = _call(base, key, "GET", f"/api/v1/dashboards/{found[0]}/widgets?limit=100")["items"]
    return {w["key"]: w["id"] for w in items}


async def tick(base: str, key: str, interval: float = INTERVAL_SECONDS) -> None:
    """Run until cancelled; a refused or failed call is logged and the next tick goes on."""
    ids: dict[str, int] = {}
    step = 0
    while True:
        await asyncio.sleep(interval)
        step += 1
        try:
            if not ids:
                ids = await asyncio.to_thread(_widget_ids, base, key)
            by_key = {w["key"]: w for w in showcase.widgets(step)}
            for name in showcase.ticking():
                if name in ids:
                    path = f"/api/v1/data/widget/{ids[name]}"
                    data = {"data": by_key[name]["data"]}
                    await asyncio.to_thread(_call, base, key, "POST", path, data)
        except (OSError, urllib.error.URLError, ValueError, KeyError) as error:
            log.warning("ticker_failed", extra={"details": {"error": str(error)}})
            ids = {}
