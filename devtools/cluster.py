"""A cluster on loopback: one admin API, three gateways and two renderers, each its own process,
sharing one PostgreSQL database and one Redis prefix.

    python -m devtools.cluster [--gateways 3] [--renderers 2] [--no-demo]     (or `make cluster`)

runs it in the foreground against DATABASE_URL and REDIS_URL (defaults: the database
`dyndash_cluster` on the local PostgreSQL, created when missing, and the local Redis), prints
the URLs and the admin API key, and stops every process on Ctrl-C. `Cluster` does the same for
the integration tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from dyndash_common.apikeys import generate_secret

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/dyndash_cluster"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "dyndash-cluster"
KEY_FILE = Path(".dyndash/cluster-api-key")
HOST = "127.0.0.1"

Kind = Literal["admin", "gateway", "renderer"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    """True when `url` answers 200 (any other answer, or none, is False)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@dataclass
class Member:
    """One process of the cluster: its command, port, log file and, once started, the process."""

    name: str
    kind: Kind
    port: int
    # The operator port (/metrics); a renderer's only port, so the same as `port` there.
    metrics_port: int
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The HTTP service's base URL; for a renderer, its metrics server's."""
        return f"http://{HOST}:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{HOST}:{self.metrics_port}/metrics"

    @property
    def ready_url(self) -> str:
        # A renderer has no HTTP service; `dyndash renderer --check` reads a health key named
        # after the host, which two renderers on one machine share, so it cannot tell them
        # apart. Its metrics server starts once the worker has started: that is the signal.
        return self.metrics_url if self.kind == "renderer" else f"{self.url}/readyz"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603
            self.command,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: Ctrl-C in the terminal reaches only the cluster, which
            # then stops each member in order; and a kill reaches a renderer's render processes.
            start_new_session=True,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait; SIGKILL for the process group if it does not exit in time."""
        process = self.process
        if process is not None:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            # Anything of its group still alive (a render process) goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Cluster:
    """Start with `with Cluster(database_url, redis_url, prefix) as cluster:`; every process
    stops on leaving the block. Members are named admin, gateway-0.., renderer-0..."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        redis_prefix: str,
        *,
        api_key: str | None = None,
        key_pepper: str | None = None,
        gateways: int = 3,
        renderers: int = 2,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.redis_prefix = redis_prefix
        self.api_key = api_key or generate_secret()
        self.start_timeout = start_timeout
        self._own_log_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="dyndash-cluster-"))
        self.env = self._environment(key_pepper, env or {})
        self.members: dict[str, Member] = {}
        self._add("admin", "admin")
        for number in range(gateways):
            self._add(f"gateway-{number}", "gateway")
        for number in range(renderers):
            self._add(f"renderer-{number}", "renderer")

    def _environment(self, key_pepper: str | None, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            # Every client of a loopback cluster has the same address: a per-address page
            # limit would count them all as one.
            "DYNDASH_GATEWAY_RATE_LIMIT_REQUESTS": "0",
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DYNDASH_REDIS_PREFIX": self.redis_prefix,
            "DYNDASH_BOOTSTRAP_API_KEY": self.api_key,
            # One worker per process, so each instance's /metrics is all of its traffic.
            "DYNDASH_WORKERS": "1",
        }
        for alias in ("DYNDASH_DATABASE_URL", "DYNDASH_REDIS_URL"):
            env.pop(alias, None)
        if key_pepper is not None:
            env["DYNDASH_KEY_PEPPER"] = key_pepper
        env.update(extra)
        return env

    def _add(self, name: str, kind: Kind) -> None:
        port = free_port()
        command = [sys.executable, "-m", "dyndash.cli", kind]
        env = dict(self.env)
        if kind == "renderer":
            command += ["--metrics-port", str(port)]
            metrics_port = port
        else:
            command += ["--host", HOST, "--port", str(port)]
            # Processes on one host: each its own operator port (the default would clash).
            metrics_port = free_port()
            env.update(DYNDASH_METRICS_HOST=HOST, DYNDASH_METRICS_PORT=str(metrics_port))
        self.members[name] = Member(
            name=name,
            kind=kind,
            port=port,
            metrics_port=metrics_port,
            command=command,
            env=env,
            log_path=self.log_dir / f"{name}.log",
        )

    # -- addresses ---------------------------------------------------------------------------

    @property
    def admin_url(self) -> str:
        return self.members["admin"].url

    @property
    def admin_metrics_url(self) -> str:
        return self.members["admin"].metrics_url

    @property
    def gateway_metrics_urls(self) -> list[str]:
        return [member.metrics_url for member in self._of("gateway")]

    @property
    def gateway_urls(self) -> list[str]:
        return [member.url for member in self._of("gateway")]

    @property
    def renderer_metrics_urls(self) -> list[str]:
        return [member.metrics_url for member in self._of("renderer")]

    def _of(self, kind: Kind) -> list[Member]:
        return [member for member in self.members.values() if member.kind == kind]

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Migrate, start every member, and return once each one is ready."""
        self.migrate()
        for member in self.members.values():
            member.start()
        deadline = time.monotonic() + self.start_timeout
        waiting = list(self.members.values())
        while waiting:
            for member in list(waiting):
                if not member.running:
                    raise RuntimeError(self._failure(member, "exited during start-up"))
                if answers(member.ready_url):
                    waiting.remove(member)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(self._failure(waiting[0], "was not ready in time"))
            if waiting:
                time.sleep(0.05)

    def migrate(self) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "dyndash.cli", "migrate"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"dyndash migrate failed:\n{done.stdout}{done.stderr}")

    def stop(self, name: str) -> None:
        """Stop one member (SIGTERM, as an orchestrator would); the others carry on."""
        self.members[name].stop()

    def close(self) -> None:
        # Renderers and gateways first, the admin API last.
        for member in reversed(list(self.members.values())):
            member.stop()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def exited(self) -> list[Member]:
        """Members that were started and are no longer running."""
        return [m for m in self.members.values() if m.process is not None and not m.running]

    def _failure(self, member: Member, what: str) -> str:
        return f"{member.name} ({' '.join(member.command[2:])}) {what}; its log:\n" + (
            member.log_tail() or "(empty)"
        )

    def describe(self) -> str:
        lines = [
            f"  {'admin API':<12} {self.admin_url}/api/v1/templates   docs {self.admin_url}/docs"
            f"   metrics {self.admin_metrics_url}"
        ]
        for member in self._of("gateway"):
            lines.append(f"  {member.name:<12} {member.url}/   metrics {member.metrics_url}")
        for member in self._of("renderer"):
            lines.append(f"  {member.name:<12} metrics {member.metrics_url}")
        return "\n".join(lines)


# -- `python -m devtools.cluster` -------------------------------------------------------------


async def ensure_database(url: str) -> None:
    """Create the PostgreSQL database `url` names when it does not exist yet."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    target = make_url(url)
    admin = create_async_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            found = await connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if found.first() is None:
                quoted = (target.database or "").replace('"', '""')
                await connection.execute(text(f'CREATE DATABASE "{quoted}"'))
    finally:
        await admin.dispose()


async def seed(settings_env: Mapping[str, str]) -> bool:
    from dyndash.demo import seed_demo
    from dyndash_common.runtime import build_runtime
    from dyndash_common.settings import Settings

    runtime = build_runtime(
        Settings(
            database_url=settings_env["DATABASE_URL"],
            redis_url=settings_env["REDIS_URL"],
            redis_prefix=settings_env["DYNDASH_REDIS_PREFIX"],
        )
    )
    try:
        return await seed_demo(runtime)
    finally:
        await runtime.close()


def cluster_key() -> str:
    """DYNDASH_BOOTSTRAP_API_KEY, else the key of the last run (kept like the dev key)."""
    given = os.environ.get("DYNDASH_BOOTSTRAP_API_KEY")
    if given:
        return given
    if KEY_FILE.exists():
        return KEY_FILE.read_text().strip()
    secret = generate_secret()
    KEY_FILE.parent.mkdir(exist_ok=True)
    KEY_FILE.write_text(secret + "\n")
    return secret


class _Stop(Exception):
    """SIGINT or SIGTERM: leave the `with` block, which stops every member."""


def _stop(signum: int, _frame: object) -> None:
    # Once: a second Ctrl-C must not cut short stopping the members.
    for ignored in (signal.SIGINT, signal.SIGTERM):
        signal.signal(ignored, signal.SIG_IGN)
    raise _Stop(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.cluster", description=__doc__)
    parser.add_argument("--gateways", type=int, default=3)
    parser.add_argument("--renderers", type=int, default=2)
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo site")
    args = parser.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    prefix = os.environ.get("DYNDASH_REDIS_PREFIX") or DEFAULT_PREFIX
    if not database_url.startswith(("postgres://", "postgresql")):
        print("the cluster needs PostgreSQL: set DATABASE_URL to a postgresql:// URL")
        return 2
    if database_url.startswith(("postgres://", "postgresql://")):
        database_url = "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    asyncio.run(ensure_database(database_url))
    # Handled explicitly: a SIGTERM (a supervisor, `kill`) must stop the members too, and a
    # shell that starts this in the background leaves SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop)
    log_dir = Path(tempfile.mkdtemp(prefix="dyndash-cluster-"))
    cluster = Cluster(
        database_url,
        redis_url,
        prefix,
        api_key=cluster_key(),
        gateways=args.gateways,
        renderers=args.renderers,
        log_dir=log_dir,
    )
    try:
        with cluster:
            seeded = False if args.no_demo else asyncio.run(seed(cluster.env))
            demo = "not seeded" if args.no_demo else "seeded" if seeded else "already present"
            print(
                "\n".join(
                    [
                        "",
                        f"dyndash cluster — {len(cluster.members)} processes on {HOST}",
                        f"  database     {database_url}",
                        f"  redis        {redis_url}  (prefix {prefix})",
                        f"  demo         {demo}",
                        cluster.describe(),
                        f"  logs         {log_dir}",
                        f"  admin key    {cluster.api_key}",
                        "",
                        "Ctrl-C stops every process.",
                    ]
                ),
                flush=True,
            )
            while not (gone := cluster.exited()):
                time.sleep(0.5)
            for member in gone:
                print(f"\n{member.name} exited; its log:\n{member.log_tail()}", file=sys.stderr)
            return 1
    except (KeyboardInterrupt, _Stop):
        print("stopped", flush=True)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
