"""The `dyndash` command: run a service, migrate, manage keys, follow events."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import timedelta
from pathlib import Path

import uvicorn

from dyndash.server import run, run_gateway, serve_gateway, server_config
from dyndash.sitecli import add_commands as add_site_commands
from dyndash_common.apikeys import SCOPES, create_key, ensure_key
from dyndash_common.db import Database, create_engine, upgrade, utcnow
from dyndash_common.events import follow
from dyndash_common.logs import configure_logging
from dyndash_common.runtime import build_runtime
from dyndash_common.settings import Settings, get_settings

DEV_KEY_FILE = Path(".dyndash/dev-api-key")


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def cmd_migrate(_args: argparse.Namespace) -> int:
    settings = get_settings()
    asyncio.run(_migrate(settings))
    print("database is at the latest schema")
    return 0


def _serve(service: str, factory: str, host: str, port: int) -> int:
    settings = get_settings()
    configure_logging(service, settings.log_level)
    run(
        server_config(
            factory, settings, host=host, port=port, factory=True, workers=settings.workers
        )
    )
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    settings = get_settings()
    return _serve(
        "admin_api",
        "dyndash_admin_api.app:create_app",
        args.host or settings.admin_host,
        args.port or settings.admin_port,
    )


def cmd_gateway(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.gateway_server == "granian" and settings.workers > 1:
        # One process per container is the deployment; granian runs inside that process.
        print(
            "DYNDASH_WORKERS > 1 needs DYNDASH_GATEWAY_SERVER=uvicorn: granian serves the "
            "gateway inside its own process",
            file=sys.stderr,
        )
        return 2
    configure_logging("gateway", settings.log_level)
    run_gateway(
        "dyndash_gateway.app:create_app",
        settings,
        host=args.host or settings.gateway_host,
        port=args.port or settings.gateway_port,
    )
    return 0


def _saved_dev_key() -> str | None:
    return DEV_KEY_FILE.read_text().strip() if DEV_KEY_FILE.exists() else None


def _save_dev_key(secret: str) -> None:
    DEV_KEY_FILE.parent.mkdir(exist_ok=True)
    DEV_KEY_FILE.write_text(secret + "\n")


def cmd_renderer(args: argparse.Namespace) -> int:
    from dyndash_renderer.worker import check, run

    if args.check:
        return asyncio.run(check())
    settings = get_settings()
    if args.metrics_port is not None:
        settings = settings.model_copy(update={"renderer_metrics_port": args.metrics_port})
    run(settings)
    return 0


def _metrics_url(settings: Settings) -> str:
    if not settings.metrics_port:
        return "off (DYNDASH_METRICS_PORT=0)"
    return f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"


async def _dev(
    settings: Settings, host: str, port: int, gateway_port: int, *, ticker: bool = False
) -> None:
    from dyndash.demo import seed_demo
    from dyndash.ticker import tick
    from dyndash_admin_api.app import create_app as create_admin_app
    from dyndash_common.events import InProcessBus
    from dyndash_gateway.app import create_app as create_gateway_app

    await _migrate(settings)
    runtime = build_runtime(settings)
    try:
        seeded = await seed_demo(runtime)
        secret = settings.bootstrap_api_key or _saved_dev_key()
        async with runtime.database.write() as session:
            if secret is None:
                _, secret = await create_key(
                    session, pepper=settings.key_pepper, name="dev", scopes=["admin"]
                )
                _save_dev_key(secret)
            else:
                await ensure_key(
                    session,
                    pepper=settings.key_pepper,
                    secret=secret,
                    name="dev",
                    source="DYNDASH_BOOTSTRAP_API_KEY"
                    if settings.bootstrap_api_key
                    else str(DEV_KEY_FILE),
                )
    finally:
        await runtime.close()
    base = f"http://{host}:{port}"
    site = f"http://{host}:{gateway_port}"
    print(
        "\n".join(
            [
                "",
                "dyndash dev — everything in one process (in-process bus and cache)",
                f"  database     {settings.database_url}",
                f"  demo         {'seeded' if seeded else 'already present'}",
                f"  demo page    {site}/   (and the hand-written one: {site}/classic)",
                f"  data API     {site}/api/v1/data/dashboard/1",
                f"  admin API    {base}/api/v1/templates",
                f"  API docs     {base}/docs",
                f"  admin UI     {_admin_ui_line(settings, base)}",
                f"  metrics      {_metrics_url(settings)}",
                f"  events       curl -N -H 'X-API-Key: {secret}' {base}/api/v1/events",
                f"  dev API key  {secret}",
                "",
            ]
        ),
        flush=True,
    )
    # One in-process bus shared by both apps: a change is on the site as soon as it commits.
    bus = InProcessBus()
    # The metrics registry is process-wide: the gateway's operator port serves both apps'.
    admin_settings = settings.model_copy(update={"metrics_port": 0})
    admin = uvicorn.Server(
        server_config(create_admin_app(admin_settings, bus=bus), settings, host=host, port=port)
    )
    # uvicorn takes Ctrl-C; the gateway stops with it.
    stop = asyncio.Event()
    serving = asyncio.create_task(admin.serve())
    serving.add_done_callback(lambda _: stop.set())
    gateway = create_gateway_app(settings, bus=bus)
    # `make dev`: the demo's data moves every few seconds, through the admin API.
    ticking = asyncio.create_task(tick(base, secret)) if ticker else None
    try:
        await asyncio.gather(
            serving, serve_gateway(gateway, settings, host=host, port=gateway_port, stop=stop)
        )
    finally:
        if ticking is not None:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking


def _admin_ui_line(settings: Settings, base: str) -> str:
    from dyndash_admin_api.ui import bundle_dir

    if (bundle_dir(settings) / "index.html").is_file():
        return f"{base}/admin/  (sign in with the dev API key)"
    return f"{base}/admin/ is not built: get Node.js 20+ and npm (https://nodejs.org/), make sync"


def cmd_dev(args: argparse.Namespace) -> int:
    settings = get_settings()
    if settings.env != "development":
        print("dyndash dev runs only with DYNDASH_ENV=development", file=sys.stderr)
        return 2
    configure_logging("dev", settings.log_level)
    asyncio.run(
        _dev(
            settings,
            args.host or settings.admin_host,
            args.port or settings.admin_port,
            args.gateway_port or settings.gateway_port,
            ticker=args.ticker,
        )
    )
    return 0


async def _create_key(settings: Settings, name: str, scopes: list[str], days: int | None) -> str:
    database = Database(create_engine(settings.database_url))
    try:
        async with database.write() as session:
            expires = utcnow() + timedelta(days=days) if days else None
            row, secret = await create_key(
                session, pepper=settings.key_pepper, name=name, scopes=scopes, expires_at=expires
            )
        return f"{secret}\n(key id {row.id}, scopes {', '.join(row.scopes)}; shown only once)"
    finally:
        await database.dispose()


def cmd_keys_create(args: argparse.Namespace) -> int:
    scopes = [scope.strip() for value in args.scope for scope in value.split(",") if scope.strip()]
    unknown = sorted(set(scopes) - SCOPES)
    if unknown or not scopes:
        print(f"error: choose scopes from {', '.join(sorted(SCOPES))}", file=sys.stderr)
        return 2
    print(asyncio.run(_create_key(get_settings(), args.name, scopes, args.expires_days)))
    return 0


async def _tail(settings: Settings, after: int | None) -> None:
    runtime = build_runtime(settings)
    # Without Redis the writers live in another process, so nothing wakes us: poll the outbox.
    idle = 15.0 if runtime.redis is not None else 0.25
    try:
        async for event in follow(runtime.database, runtime.bus, after, idle):
            if event is not None:
                print(event.to_json().decode(), flush=True)
    finally:
        await runtime.close()


def cmd_events_tail(args: argparse.Namespace) -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_tail(get_settings(), args.after))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dyndash", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="everything in one process, demo seeded")
    admin = commands.add_parser("admin", help="run the admin API")
    gateway = commands.add_parser("gateway", help="run the gateway")
    for command in (dev, admin, gateway):
        command.add_argument("--host")
        command.add_argument("--port", type=int)
    dev.add_argument("--gateway-port", type=int)
    dev.add_argument(
        "--ticker",
        action="store_true",
        help="change the demo's data every few seconds through the admin API (make dev)",
    )
    dev.set_defaults(handler=cmd_dev)
    admin.set_defaults(handler=cmd_admin)
    gateway.set_defaults(handler=cmd_gateway)
    renderer = commands.add_parser("renderer", help="run a render worker (needs REDIS_URL)")
    renderer.add_argument(
        "--check", action="store_true", help="exit 0 if this host's worker is alive (health check)"
    )
    renderer.add_argument(
        "--metrics-port", type=int, help="port of /metrics (default 9100; 0 turns it off)"
    )
    renderer.set_defaults(handler=cmd_renderer)

    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(
        handler=cmd_migrate
    )

    keys = commands.add_parser("keys", help="API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="create a key and print its secret once")
    create.add_argument("--name", required=True)
    create.add_argument("--scope", action="append", required=True, help="repeat or comma-separate")
    create.add_argument("--expires-days", type=int)
    create.set_defaults(handler=cmd_keys_create)

    events = commands.add_parser("events", help="change events").add_subparsers(
        dest="events", required=True
    )
    tail = events.add_parser("tail", help="print the live event stream as JSON lines")
    tail.add_argument("--after", type=int, help="start after this event id (default: now)")
    tail.set_defaults(handler=cmd_events_tail)
    add_site_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
