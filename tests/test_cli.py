"""The `dyndash` command: migrate, keys create, events tail."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from dyndash_admin_api.operations.templates import create_template
from dyndash_common.changes import change
from dyndash_common.runtime import build_runtime
from dyndash_common.templating import LocalCompiler
from tests.conftest import start_api
from tests.utils.backends import Backend


def _env(backend: Backend) -> dict[str, str]:
    settings = backend.settings
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DYNDASH_KEY_PEPPER": settings.key_pepper,
        "DYNDASH_REDIS_PREFIX": settings.redis_prefix,
        "DYNDASH_METRICS_PORT": "0",
    }
    env.pop("REDIS_URL", None)
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


def _dyndash(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dyndash.cli", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_migrate_creates_the_schema(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    first = _dyndash("migrate", env=env)
    assert first.returncode == 0, first.stderr
    again = _dyndash("migrate", env=env)
    assert again.returncode == 0, again.stderr
    assert "latest schema" in again.stdout


async def test_keys_create_prints_a_working_secret(backend: Backend) -> None:
    created = await asyncio.to_thread(
        _dyndash,
        "keys",
        "create",
        "--name",
        "ci",
        "--scope",
        "templates:write,data:read",
        env=_env(backend),
    )
    assert created.returncode == 0, created.stderr
    secret = created.stdout.splitlines()[0]
    assert secret.startswith("ddk_")
    async for api in start_api(backend):
        async with httpx.AsyncClient(base_url=api.base_url, headers={"X-API-Key": secret}) as c:
            assert (await c.post("/api/v1/templates", json={"name": "cli"})).status_code == 201
            assert (await c.get("/api/v1/keys")).status_code == 403


def test_keys_create_refuses_unknown_scopes(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}"}
    refused = _dyndash("keys", "create", "--name", "x", "--scope", "root", env=env)
    assert refused.returncode == 2
    assert "choose scopes" in refused.stderr


async def test_events_tail_prints_new_events(backend: Backend) -> None:
    tail = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dyndash.cli",
        "events",
        "tail",
        "--after",
        "0",
        env=_env(backend),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        runtime = build_runtime(backend.settings)
        async with change(runtime) as changes:
            await create_template(
                changes,
                {"name": "tailed", "html_content": ""},
                None,
                None,
                compiler=LocalCompiler(),
            )
        await runtime.close()
        assert tail.stdout is not None
        line = await asyncio.wait_for(tail.stdout.readline(), 20)
    finally:
        tail.kill()
        await tail.wait()
    event = orjson.loads(line)
    assert event["type"] == "template.created"
    assert event["payload"]["name"] == "tailed"
