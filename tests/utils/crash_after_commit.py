"""Commit a template, then die before the event is published: a crash at the worst moment.

Run as `python -m tests.utils.crash_after_commit DATABASE_URL [REDIS_URL REDIS_PREFIX]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator

from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import change
from dyndash_common.events import ChangeEvent, Subscription
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings
from dyndash_common.templating import LocalCompiler


class DyingBus:
    async def publish(self, event: ChangeEvent) -> None:
        os._exit(137)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        raise NotImplementedError
        yield


async def main(database_url: str, redis_url: str | None, prefix: str) -> None:
    settings = Settings(database_url=database_url, redis_url=redis_url, redis_prefix=prefix)
    runtime = build_runtime(settings, DyingBus())
    async with change(runtime) as changes:
        await create_template(
            changes, {"name": "orphan", "html_content": "x"}, None, None, compiler=LocalCompiler()
        )
    print("published?!", file=sys.stderr)


if __name__ == "__main__":
    database_url, redis_url, prefix = [*sys.argv[1:], None, None][:3]
    assert database_url is not None
    asyncio.run(main(database_url, redis_url, prefix or "dyndash"))
