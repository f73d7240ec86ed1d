"""`dyndash doctor` against a healthy deployment (embedded and PostgreSQL + Redis) and against
each broken dependency: its exit code and each check's status in `--output json`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.cluster import free_port
from dyndash.doctor import Doctor, Finding, as_text, exit_code
from dyndash_common.db import create_engine, downgrade
from tests.conftest import start_api
from tests.utils.backends import (
    Backend,
    create_postgres_database,
    drop_postgres_database,
    postgres_backend,
    sqlite_backend,
)
from tests.utils.services import require_services


def _env(backend: Backend, **changes: str | None) -> dict[str, str]:
    """This process's environment without any deployment setting, plus the backend's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DYNDASH_") and name not in ("DATABASE_URL", "REDIS_URL")
    }
    settings = backend.settings
    env |= {
        "DATABASE_URL": settings.database_url,
        "DYNDASH_KEY_PEPPER": settings.key_pepper,
        "DYNDASH_REDIS_PREFIX": settings.redis_prefix,
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def _doctor(env: dict[str, str], *arguments: str) -> tuple[int, dict[str, Any]]:
    """Run `dyndash doctor --output json`; its exit code and its checks by name."""
    finished = subprocess.run(
        [sys.executable, "-m", "dyndash.cli", "doctor", "--output", "json", *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in finished.stderr, finished.stderr
    report = json.loads(finished.stdout)
    checks = {check["name"]: check for check in report["checks"]}
    assert report["status"] == ("ok", "warn", "fail")[finished.returncode], report
    return finished.returncode, checks


def _statuses(checks: dict[str, Any]) -> dict[str, str]:
    return {name: check["status"] for name, check in checks.items()}


COMMON_CHECKS = {
    "settings",
    "key_pepper",
    "trusted_proxies",
    "operator_ports",
    "database",
    "migrations",
    "redis",
    "clock",
    "outbox",
    "render_pool",
}


async def test_a_healthy_deployment_is_all_ok(backend: Backend) -> None:
    async for api in start_api(backend):
        await api.create_template()
        code, checks = await asyncio.to_thread(_doctor, _env(backend), "--admin", api.base_url)
    expected = COMMON_CHECKS | {"admin_api"}
    if backend.name == "postgres":
        expected |= {"event_stream"}
    assert set(checks) == expected
    assert set(_statuses(checks).values()) == {"ok"}, checks
    assert code == 0
    assert checks["migrations"]["message"].startswith("at head")
    if backend.name == "postgres":
        # The template's event is the stream's newest entry, and both clocks were compared.
        assert "(event 1)" in checks["event_stream"]["message"], checks["event_stream"]
        assert "database" in checks["clock"]["message"]
        assert "redis" in checks["clock"]["message"]


def test_a_database_that_is_down_fails_and_skips_what_needs_it(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    env = _env(backend, DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/dyndash")
    code, checks = _doctor(env)
    assert code == 2
    assert checks["database"]["status"] == "fail"
    assert "unreachable" in checks["database"]["message"]
    assert "DATABASE_URL" in checks["database"]["fix"]
    assert "migrations" not in checks
    assert "outbox" not in checks
    assert checks["render_pool"]["status"] == "ok"


def test_a_missing_sqlite_file_is_reported_not_created(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    missing = tmp_path / "typo.db"
    code, checks = _doctor(_env(backend, DATABASE_URL=f"sqlite:///{missing}"))
    assert code == 2
    assert checks["database"]["status"] == "fail"
    assert not missing.exists()


@pytest.mark.postgres
def test_redis_that_is_down_fails(postgres_url: str, tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    env = _env(backend, DATABASE_URL=postgres_url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    code, checks = _doctor(env)
    assert code == 2
    assert _statuses(checks)["redis"] == "fail"
    assert "REDIS_URL" in checks["redis"]["fix"]
    assert _statuses(checks)["database"] == "ok"
    assert _statuses(checks)["migrations"] == "ok"
    assert "event_stream" not in checks


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield listener.getsockname()[1]
    listener.close()


def test_a_dependency_that_never_answers_fails_within_the_timeout(
    tmp_path: Path, silent_port: int
) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    env = _env(backend, REDIS_URL=f"redis://127.0.0.1:{silent_port}/0")
    code, checks = _doctor(env, "--timeout", "1")
    assert code == 2
    assert checks["redis"]["status"] == "fail"
    assert checks["database"]["status"] == "ok"


@pytest.mark.postgres
def test_migrations_behind_head_fail() -> None:
    require_services()
    url = asyncio.run(create_postgres_database())
    try:
        engine = create_engine(url)
        asyncio.run(downgrade(engine, "0003"))
        asyncio.run(engine.dispose())
        code, checks = _doctor(_env(postgres_backend(url)))
    finally:
        asyncio.run(drop_postgres_database(url))
    assert code == 2
    assert checks["migrations"]["status"] == "fail"
    assert "0003" in checks["migrations"]["message"]
    assert "behind" in checks["migrations"]["message"]
    assert "dyndash migrate" in checks["migrations"]["fix"]


def test_an_unmigrated_database_fails(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    empty = tmp_path / "empty.db"
    empty.touch()
    code, checks = _doctor(_env(backend, DATABASE_URL=f"sqlite:///{empty}"))
    assert code == 2
    assert checks["database"]["status"] == "ok"
    assert checks["migrations"]["status"] == "fail"
    assert checks["migrations"]["message"] == "the database has no schema"
    assert "outbox" not in checks


def test_production_without_a_pepper_fails_but_checks_the_rest(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    code, checks = _doctor(
        _env(backend, DYNDASH_ENV="production", DYNDASH_KEY_PEPPER=None, DYNDASH_METRICS_PORT="0")
    )
    assert code == 2
    assert checks["key_pepper"]["status"] == "fail"
    assert "DYNDASH_KEY_PEPPER must be set" in checks["key_pepper"]["message"]
    assert checks["database"]["status"] == "ok"
    assert checks["migrations"]["status"] == "ok"


def test_production_with_a_pepper_warns_about_what_it_lacks(tmp_path: Path) -> None:
    # Production on SQLite, no Redis, no trusted proxies, no metrics: each a warning, exit 1.
    backend = asyncio.run(sqlite_backend(tmp_path))
    code, checks = _doctor(_env(backend, DYNDASH_ENV="production", DYNDASH_METRICS_PORT="0"))
    assert checks["key_pepper"]["status"] == "ok"
    warnings = {name for name, status in _statuses(checks).items() if status == "warn"}
    assert warnings == {"redis", "trusted_proxies", "operator_ports"}, checks
    assert code == 1


def test_settings_that_do_not_validate_fail_with_the_variable_named(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    code, checks = _doctor(_env(backend, DYNDASH_GATEWAY_PORT="not-a-port"))
    assert code == 2
    assert list(checks) == ["settings"]
    assert "GATEWAY_PORT" in checks["settings"]["message"]


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"DYNDASH_TRUSTED_PROXIES": "0.0.0.0/0"}, "fail", "every address"),
        ({"DYNDASH_TRUSTED_PROXIES": "8.8.8.0/24"}, "warn", "8.8.8.0/24"),
        ({"DYNDASH_TRUSTED_PROXIES": "10.0.0.0/16"}, "ok", "10.0.0.0/16"),
    ],
)
def test_trusted_proxies(tmp_path: Path, changes: dict[str, str], status: str, words: str) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    _, checks = _doctor(_env(backend, **changes))
    assert checks["trusted_proxies"]["status"] == status
    assert words in checks["trusted_proxies"]["message"]


def test_a_metrics_port_on_a_public_port_fails(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    code, checks = _doctor(_env(backend, DYNDASH_METRICS_PORT="8000"))
    assert code == 2
    assert checks["operator_ports"]["status"] == "fail"
    assert "DYNDASH_GATEWAY_PORT" in checks["operator_ports"]["message"]


def test_probing_a_service_that_is_not_there_fails(tmp_path: Path) -> None:
    backend = asyncio.run(sqlite_backend(tmp_path))
    closed = f"http://127.0.0.1:{free_port()}"
    code, checks = _doctor(_env(backend), "--gateway", closed, "--metrics", f"{closed}/metrics")
    assert code == 2
    assert checks["gateway"]["status"] == "fail"
    assert checks["metrics"]["status"] == "fail"


@pytest.mark.postgres
@pytest.mark.parametrize(("offset", "status"), [(0.0, "ok"), (-3.0, "warn"), (10.0, "fail")])
async def test_clock_skew_against_postgres_and_redis(
    postgres_url: str, offset: float, status: str
) -> None:
    # The local clock is shifted; PostgreSQL's and Redis's are real.
    settings = postgres_backend(postgres_url).settings
    doctor = Doctor(settings, timeout=5, clock=lambda: time.time() + offset)
    try:
        assert (await doctor.database())[0].status == "ok"
        assert (await doctor.redis_check())[0].status == "ok"
        [clock] = await doctor.clocks()
    finally:
        await doctor.close()
    assert clock.status == status, clock
    assert "database" in clock.message
    assert "redis" in clock.message


def test_text_output_gives_each_fix_on_its_own_line() -> None:
    findings = [
        Finding("database", "ok", "PostgreSQL answered in 3 ms"),
        Finding("redis", "fail", "unreachable: ConnectionError", "check REDIS_URL"),
    ]
    assert as_text(findings).splitlines() == [
        "ok    database  PostgreSQL answered in 3 ms",
        "fail  redis     unreachable: ConnectionError",
        "                fix: check REDIS_URL",
    ]
    assert exit_code(findings) == 2
    assert exit_code(findings[:1]) == 0
