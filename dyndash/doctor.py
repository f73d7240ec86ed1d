"""`dyndash doctor`: a deployment's settings and dependencies, each checked and reported as
ok, warn or fail with the fix (README, "Command line").

Every check runs under its own timeout, so a dependency that does not answer shows up as a
failure instead of a hang. The doctor only reads: it never migrates, publishes or writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from dyndash_common.db import MIGRATIONS, Event, create_engine, utcnow
from dyndash_common.events import stream_key
from dyndash_common.settings import DEV_KEY_PEPPER, Settings

Status = Literal["ok", "warn", "fail"]
RANK: dict[Status, int] = {"ok": 0, "warn": 1, "fail": 2}
# The outbox-backlog alert's threshold (README, "Operations"): older unpublished events mean
# no sweeper is running or the bus refuses writes.
OUTBOX_AGE_WARN_SECONDS = 30.0
CLOCK_WARN_SECONDS = 1.0
CLOCK_FAIL_SECONDS = 5.0
# Starting the render pool's fork server imports Jinja2 and the sandbox: not part of the budget.
RENDER_START_SECONDS = 30.0
# Stands in for the pepper while the other settings are validated, so a missing production
# pepper is reported as one finding instead of hiding every other check.
_PEPPER_STAND_IN = "doctor-stand-in-pepper-" + "x" * 32


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    message: str
    fix: str = ""


def ok(name: str, message: str) -> Finding:
    return Finding(name, "ok", message)


def warn(name: str, message: str, fix: str) -> Finding:
    return Finding(name, "warn", message, fix)


def fail(name: str, message: str, fix: str) -> Finding:
    return Finding(name, "fail", message, fix)


def _problem(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"{where.upper()}: {message}" if where else message)
    return "; ".join(parts)


def load_settings() -> tuple[Settings | None, list[Finding]]:
    """The environment's settings, with the pepper judged apart from the rest."""
    try:
        settings = Settings(key_pepper=_PEPPER_STAND_IN)
    except ValidationError as error:
        return None, [fail("settings", _problem(error), "correct the variables named above")]
    findings = [ok("settings", f"valid (DYNDASH_ENV={settings.env})")]
    try:
        settings = Settings()
    except ValidationError as error:
        findings.append(
            fail(
                "key_pepper",
                _problem(error),
                "set DYNDASH_KEY_PEPPER to a secret of 32+ characters (keep it: keys depend on it)",
            )
        )
        return settings, findings
    if settings.key_pepper == DEV_KEY_PEPPER:
        findings.append(ok("key_pepper", "the built-in development pepper (development only)"))
    else:
        findings.append(ok("key_pepper", "set"))
    return settings, findings


def _sqlite_file(settings: Settings) -> Path | None:
    database = make_url(settings.database_url).database
    return Path(database) if database and database != ":memory:" else None


def _head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None, "the migration history has a head"
    return head


def _known_revisions() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}


async def _current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        revision: str | None = await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
    return revision


class Doctor:
    """The checks of one deployment; `clock` is the local clock the others are compared with."""

    def __init__(
        self,
        settings: Settings,
        *,
        timeout: float,
        clock: Callable[[], float] = time.time,
        gateway_url: str | None = None,
        admin_url: str | None = None,
        metrics_urls: tuple[str, ...] = (),
    ) -> None:
        self.settings = settings
        self.timeout = timeout
        self.clock = clock
        self.gateway_url = gateway_url
        self.admin_url = admin_url
        self.metrics_urls = metrics_urls
        self.engine: AsyncEngine | None = None
        self.redis: Redis | None = None
        self.database_up = False
        self.schema_present = False
        self.redis_up = False

    async def run(self) -> list[Finding]:
        findings = [self.proxies(), self.ports()]
        findings += await self._bounded("database", self.database(), "the database")
        if self.database_up:
            findings += await self._bounded("migrations", self.migrations(), "the database")
        findings += await self._bounded("redis", self.redis_check(), "Redis")
        findings += await self._bounded("clock", self.clocks(), "the database or Redis")
        if self.schema_present:
            findings += await self._bounded("events", self.events(), "the database or Redis")
        findings += await self._bounded(
            "render_pool", self.render_pool(), "the render pool", RENDER_START_SECONDS
        )
        for name, url in (("gateway", self.gateway_url), ("admin_api", self.admin_url)):
            if url:
                findings += await self._bounded(name, self.service(name, url), url)
        for url in self.metrics_urls:
            findings += await self._bounded("metrics", self.metrics(url), url)
        return findings

    async def close(self) -> None:
        if self.engine is not None:
            await asyncio.wait_for(self.engine.dispose(), self.timeout)
        if self.redis is not None:
            await asyncio.wait_for(self.redis.aclose(), self.timeout)

    async def _bounded(
        self,
        name: str,
        check: Awaitable[list[Finding]],
        what: str,
        extra_seconds: float = 0.0,
    ) -> list[Finding]:
        seconds = self.timeout + extra_seconds
        try:
            return await asyncio.wait_for(check, seconds)
        except TimeoutError:
            return [
                fail(
                    name,
                    f"{what} did not answer within {seconds:g} s",
                    "check that it runs and that this host can reach it",
                )
            ]
        except Exception as error:
            # A check that breaks is a finding too: the doctor reports, it does not crash.
            return [
                fail(name, f"{what} failed: {_brief(error)}", "see the message; rerun to confirm")
            ]

    # Settings alone.

    def proxies(self) -> Finding:
        networks = self.settings.trusted_proxies
        if any(network.prefixlen == 0 for network in networks):
            return fail(
                "trusted_proxies",
                "DYNDASH_TRUSTED_PROXIES trusts every address: any client can choose the address "
                "rate limits count",
                "list only the load balancer's subnet",
            )
        public = [str(network) for network in networks if network.is_global]
        if public:
            return warn(
                "trusted_proxies",
                f"public networks trusted: {', '.join(public)}",
                "trust only the load balancer's private subnet",
            )
        if not networks and self.settings.env == "production":
            return warn(
                "trusted_proxies",
                "none: behind a load balancer every client has its address, so per-address "
                "limits apply to all clients together",
                "set DYNDASH_TRUSTED_PROXIES to the load balancer's subnet (e.g. 10.0.0.0/16), "
                "or ignore this if clients connect directly",
            )
        listed = (
            ", ".join(str(network) for network in networks) or "none (clients connect directly)"
        )
        return ok("trusted_proxies", listed)

    def ports(self) -> Finding:
        settings = self.settings
        public = {"DYNDASH_GATEWAY_PORT": settings.gateway_port}
        public["DYNDASH_ADMIN_PORT"] = settings.admin_port
        for name, port in public.items():
            if settings.metrics_port and settings.metrics_port == port:
                return fail(
                    "operator_ports",
                    f"DYNDASH_METRICS_PORT is {port}, the same as {name}: /metrics belongs off "
                    "the public port",
                    "give DYNDASH_METRICS_PORT a port of its own (default 9100)",
                )
        if settings.renderer_metrics_port in public.values():
            return fail(
                "operator_ports",
                f"DYNDASH_RENDERER_METRICS_PORT is {settings.renderer_metrics_port}, a public port",
                "give DYNDASH_RENDERER_METRICS_PORT a port of its own (default 9100)",
            )
        if not settings.metrics_port and settings.env == "production":
            return warn(
                "operator_ports",
                "DYNDASH_METRICS_PORT=0: no /metrics, so no alert can see this service",
                "set DYNDASH_METRICS_PORT (default 9100) and scrape it",
            )
        return ok(
            "operator_ports",
            f"metrics on {settings.metrics_host}:{settings.metrics_port or 'off'}, public ports "
            f"{settings.gateway_port} (gateway) and {settings.admin_port} (admin API)",
        )

    # Dependencies.

    async def database(self) -> list[Finding]:
        settings = self.settings
        if settings.is_sqlite:
            path = _sqlite_file(settings)
            # Connecting would create an empty file: a typo in the path is reported instead.
            if path is not None and not path.is_file():
                return [
                    fail(
                        "database",
                        f"no SQLite database at {path}",
                        "check DATABASE_URL, or create it with `dyndash migrate`",
                    )
                ]
        self.engine = create_engine(settings.database_url)
        started = time.monotonic()
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as error:
            return [
                fail(
                    "database",
                    f"{make_url(settings.database_url).get_backend_name()} unreachable: "
                    f"{_brief(error)}",
                    "check DATABASE_URL and that the database server runs and accepts this host",
                )
            ]
        self.database_up = True
        kind = "SQLite" if settings.is_sqlite else "PostgreSQL"
        return [ok("database", f"{kind} answered in {_milliseconds(started)} ms")]

    async def migrations(self) -> list[Finding]:
        assert self.engine is not None
        head = _head_revision()
        current = await _current_revision(self.engine)
        self.schema_present = current is not None
        if current == head:
            return [ok("migrations", f"at head ({head})")]
        if current is None:
            return [fail("migrations", "the database has no schema", "run `dyndash migrate`")]
        if current not in _known_revisions():
            return [
                fail(
                    "migrations",
                    f"the database is at {current}, which this release does not know "
                    f"(its head is {head})",
                    "deploy the release that migrated it, or restore a matching backup",
                )
            ]
        return [
            fail(
                "migrations",
                f"the database is at {current}, behind head {head}",
                "run `dyndash migrate` before starting this release",
            )
        ]

    async def redis_check(self) -> list[Finding]:
        url = self.settings.redis_url
        if url is None:
            if self.settings.env == "production":
                return [
                    warn(
                        "redis",
                        "REDIS_URL is not set: events, cache and rate limits stay in one process",
                        "set REDIS_URL to run more than one gateway or admin API",
                    )
                ]
            return [ok("redis", "not set: embedded (one process)")]
        self.redis = Redis.from_url(
            url, socket_connect_timeout=self.timeout, socket_timeout=self.timeout
        )
        started = time.monotonic()
        try:
            await self.redis.ping()
        except Exception as error:
            return [
                fail(
                    "redis",
                    f"unreachable: {_brief(error)}",
                    "check REDIS_URL and that Redis runs and accepts this host",
                )
            ]
        self.redis_up = True
        return [ok("redis", f"answered in {_milliseconds(started)} ms")]

    async def clocks(self) -> list[Finding]:
        """The database server's and Redis's clocks against ours: event ages, TTLs and the
        outbox's grace period compare times taken on different machines."""
        skews: dict[str, float] = {}
        if self.database_up and not self.settings.is_sqlite:
            assert self.engine is not None
            before = self.clock()
            async with self.engine.connect() as connection:
                server = (await connection.execute(text("SELECT clock_timestamp()"))).scalar_one()
            after = self.clock()
            skews["database"] = server.timestamp() - (before + after) / 2
        if self.redis_up:
            assert self.redis is not None
            before = self.clock()
            seconds, microseconds = await self.redis.time()
            after = self.clock()
            skews["redis"] = seconds + microseconds / 1e6 - (before + after) / 2
        if not skews:
            return [ok("clock", "nothing to compare: no other server's clock reachable")]
        worst_name, worst = max(skews.items(), key=lambda item: abs(item[1]))
        shown = ", ".join(f"{name} {skew:+.3f} s" for name, skew in skews.items())
        fix = "run NTP (chrony or systemd-timesyncd) on every host"
        if abs(worst) > CLOCK_FAIL_SECONDS:
            return [fail("clock", f"{worst_name}'s clock differs from this host's: {shown}", fix)]
        if abs(worst) > CLOCK_WARN_SECONDS:
            return [warn("clock", f"{worst_name}'s clock differs from this host's: {shown}", fix)]
        return [ok("clock", f"within {CLOCK_WARN_SECONDS:g} s: {shown}")]

    async def events(self) -> list[Finding]:
        """The outbox's backlog and, with Redis, the stream against it."""
        assert self.engine is not None
        async with self.engine.connect() as connection:
            newest = (await connection.execute(select(func.max(Event.id)))).scalar_one()
            backlog, oldest = (
                await connection.execute(
                    select(func.count(Event.id), func.min(Event.created_at)).where(
                        Event.published_at.is_(None)
                    )
                )
            ).one()
        newest = newest or 0
        findings: list[Finding] = []
        if backlog and oldest is not None:
            age = (utcnow() - _aware(oldest)).total_seconds()
            message = f"{backlog} unpublished, the oldest {age:.0f} s old (newest event {newest})"
            if age > OUTBOX_AGE_WARN_SECONDS:
                findings.append(
                    warn(
                        "outbox",
                        message,
                        "start a gateway, admin API or renderer (each sweeps the outbox) and "
                        "check that Redis takes writes",
                    )
                )
            else:
                findings.append(ok("outbox", message))
        else:
            findings.append(ok("outbox", f"nothing unpublished (newest event {newest})"))
        if self.redis_up:
            findings.append(await self._stream(newest, backlog))
        return findings

    async def _stream(self, newest: int, backlog: int) -> Finding:
        assert self.redis is not None
        key = stream_key(self.settings.redis_prefix)
        length = await self.redis.xlen(key)
        last = await self.redis.xrevrange(key, count=1)
        if not last:
            if newest > backlog:
                return warn(
                    "event_stream",
                    f"{key} is empty but {newest - backlog} events were published: Redis lost "
                    "the stream (restart or eviction)",
                    "nothing to do if followers resynchronised (their state_resynchronised log "
                    "line); set Redis to noeviction and persistence on",
                )
            return ok("event_stream", f"{key} empty, no events yet")
        entry_id, fields = last[0]
        sequence = int(fields.get(b"seq", b"0"))
        message = (
            f"{key}: {length} entries, last id {entry_id.decode()} (event {sequence}); "
            f"followers keep their own positions and resynchronise on a gap"
        )
        return ok("event_stream", message)

    async def render_pool(self) -> list[Finding]:
        from dyndash_common.templating import RenderBudget, RenderJob, RenderPool, source_key

        budget = RenderBudget.from_settings(self.settings)
        pool = RenderPool(budget, size=1)
        source = "{{ 6 * 7 }}"
        try:
            await pool.start()
            started = time.monotonic()
            html = await pool.render(
                RenderJob(
                    name="doctor", sources={"doctor": (source_key(source), source)}, context={}
                )
            )
        except Exception as error:
            return [
                fail(
                    "render_pool",
                    f"could not render a trivial template: {_brief(error)}",
                    "check DYNDASH_RENDER_MAX_MEMORY_BYTES and DYNDASH_RENDER_TIMEOUT_SECONDS, and "
                    "that this host lets processes fork",
                )
            ]
        finally:
            await pool.aclose()
        if html.strip() != "42":
            return [
                fail(
                    "render_pool",
                    f"a trivial template rendered {html[:60]!r}",
                    "reinstall this release",
                )
            ]
        return [
            ok(
                "render_pool",
                f"a render process rendered in {_milliseconds(started)} ms "
                f"(budget {budget.timeout_seconds:g} s)",
            )
        ]

    async def service(self, name: str, url: str) -> list[Finding]:
        async with httpx.AsyncClient(base_url=url, timeout=self.timeout) as client:
            try:
                live = await client.get("/healthz")
                ready = await client.get("/readyz")
            except httpx.HTTPError as error:
                return [fail(name, f"{url} unreachable: {_brief(error)}", "check the URL")]
        if live.status_code != 200:
            return [fail(name, f"{url}/healthz answered {live.status_code}", "see its logs")]
        if ready.status_code != 200:
            return [
                fail(
                    name,
                    f"{url}/readyz answered {ready.status_code}: {ready.text[:200]}",
                    "the checks named there are down: see its logs",
                )
            ]
        return [ok(name, f"{url} live and ready")]

    async def metrics(self, url: str) -> list[Finding]:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            try:
                response = await client.get(url)
            except httpx.HTTPError as error:
                return [
                    fail(
                        "metrics",
                        f"{url} unreachable: {_brief(error)}",
                        "check DYNDASH_METRICS_HOST/PORT and the security group",
                    )
                ]
        if response.status_code != 200 or "# HELP" not in response.text:
            return [
                fail(
                    "metrics",
                    f"{url} answered {response.status_code} without metrics",
                    "point --metrics at a service's operator port (…:9100/metrics)",
                )
            ]
        return [ok("metrics", f"{url} serves metrics")]


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _milliseconds(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _brief(error: BaseException) -> str:
    text_ = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {text_}"[:300] if text_ else type(error).__name__


def worst(findings: list[Finding]) -> Status:
    return max((finding.status for finding in findings), key=RANK.__getitem__, default="ok")


def exit_code(findings: list[Finding]) -> int:
    return RANK[worst(findings)]


def as_text(findings: list[Finding]) -> str:
    width = max((len(finding.name) for finding in findings), default=0)
    lines = []
    for finding in findings:
        lines.append(f"{finding.status:<4}  {finding.name:<{width}}  {finding.message}")
        if finding.fix:
            lines.append(f"{'':<4}  {'':<{width}}  fix: {finding.fix}")
    return "\n".join(lines)


def as_json(findings: list[Finding]) -> str:
    return json.dumps(
        {"status": worst(findings), "checks": [asdict(finding) for finding in findings]}, indent=2
    )


async def diagnose(
    *,
    check_seconds: float,
    gateway_url: str | None = None,
    admin_url: str | None = None,
    metrics_urls: tuple[str, ...] = (),
    clock: Callable[[], float] = time.time,
) -> list[Finding]:
    settings, findings = load_settings()
    if settings is None:
        return findings
    doctor = Doctor(
        settings,
        timeout=check_seconds,
        clock=clock,
        gateway_url=gateway_url,
        admin_url=admin_url,
        metrics_urls=metrics_urls,
    )
    try:
        findings += await doctor.run()
    finally:
        # A connection that will not close belongs to a dependency already reported.
        with contextlib.suppress(Exception):
            await doctor.close()
    return findings
