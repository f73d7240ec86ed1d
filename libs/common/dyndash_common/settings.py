"""Settings read from the environment, one typed class shared by every service.

Every variable is documented in the README's settings table; keep the two in step.
"""

from __future__ import annotations

import json
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dyndash_common.apikeys import MAX_KEY_LENGTH
from dyndash_common.csp import check_csp

DEV_KEY_PEPPER = "dyndash-development-pepper-not-for-production"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./dyndash.db"


class Settings(BaseSettings):
    """Every setting of every service, from `DYNDASH_*` variables (README, "Settings")."""

    model_config = SettingsConfigDict(env_prefix="DYNDASH_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        validation_alias=AliasChoices("DATABASE_URL", "DYNDASH_DATABASE_URL"),
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "DYNDASH_REDIS_URL")
    )
    # Namespaces every Redis key, so several deployments (or test runs) can share one server.
    redis_prefix: str = "dyndash"
    key_pepper: str = DEV_KEY_PEPPER
    bootstrap_api_key: str | None = None
    admin_host: str = "127.0.0.1"
    admin_port: int = Field(default=8001, ge=1, le=65535)
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8000, ge=1, le=65535)
    # The operator port: /metrics of a gateway or admin API, never on the public port (a proxy's
    # literal path rules miss encoded variants). 9100 like a renderer's: each service runs in
    # its own container. 0 turns it off.
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    workers: int = Field(default=1, ge=1, le=64)
    # The gateway's HTTP server (dyndash.server): granian by measurement (bench/gateway.py);
    # uvicorn answers the edge refusals with our JSON envelope (README, Security).
    gateway_server: Literal["granian", "uvicorn"] = "granian"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_requests: int = Field(default=600, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # The body of POST /api/v1/site/apply: a whole site, so its own limit (README, "Sites as code").
    max_bundle_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # The request line and headers together; more → 431. Also bounds what a client can make a
    # server buffer before any of our code runs.
    max_header_bytes: int = Field(default=16_384, ge=1024, le=1_048_576)
    # From a connection's first byte (or a keep-alive request's first byte) to the end of its
    # headers; slower → 408 and the connection is closed.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    # A route's path parameter (`/sales/{region}`) longer than this → 414.
    max_path_param_chars: int = Field(default=200, ge=1, le=8192)
    # On SIGTERM: open streams are told to reconnect and end; requests still running after
    # this many seconds are cancelled, so a shutdown never waits on a client.
    shutdown_timeout_seconds: int = Field(default=10, ge=1, le=600)
    # Proxies whose X-Forwarded-For is believed (addresses or CIDRs); none by default.
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list
    )
    render_timeout_seconds: float = Field(default=2.0, gt=0)
    render_max_output_bytes: int = Field(default=2_097_152, ge=1024)
    render_max_memory_bytes: int = Field(default=268_435_456, ge=16_777_216)
    # Render processes of a gateway or admin API (the renderer service has its own setting).
    render_processes: int = Field(default=2, ge=1, le=32)
    gateway_l1_max_bytes: int = Field(default=67_108_864, ge=0)
    gateway_l2_enabled: bool = True
    # How long past its TTL an entry may be served while a fresh render is made.
    gateway_stale_seconds: int = Field(default=300, ge=0)
    # TTL of widget fragments and dashboard data in the caches (pages take their route's
    # cache_ttl); a change replaces them at once whatever this is.
    fragment_ttl_seconds: int = Field(default=300, ge=1)
    gateway_resync_seconds: float = Field(default=30.0, gt=0)
    # Per client address and gateway instance, for pages, fragments and assets; 0 turns it off.
    gateway_rate_limit_requests: int = Field(default=1200, ge=0)
    # Open /live streams per client address and per gateway process (README, "Security"); past
    # either, 429 or 503 with Retry-After. granian admits this many requests in flight plus
    # 1,024 (dyndash.granian_server), so streams never take the slots pages and health use.
    live_max_per_address: int = Field(default=8, ge=1)
    live_max_streams: int = Field(default=2000, ge=1, le=100_000)
    # Open GET /api/v1/events streams per API key and per admin API process.
    events_max_per_key: int = Field(default=8, ge=1)
    events_max_streams: int = Field(default=1000, ge=1, le=100_000)
    access_log: bool = False
    # Jobs one worker takes at once; unset: twice its render processes. A worker taking more
    # than it can render holds work that an idle replica could have done.
    renderer_max_jobs: int | None = Field(default=None, ge=1, le=256)
    renderer_processes: int = Field(default=2, ge=1, le=32)
    # Also how long a job of a killed worker waits before another runs it (plus 10 s).
    renderer_job_timeout_seconds: float = Field(default=30.0, gt=0)
    # How often an idle worker looks at the queue; arq's default of 0.5 s would delay every job.
    renderer_poll_delay_seconds: float = Field(default=0.01, gt=0)
    # Prometheus /metrics of a render worker (it has no HTTP server of its own); 0 turns it off.
    renderer_metrics_port: int = Field(default=9100, ge=0, le=65535)
    renderer_metrics_host: str = "127.0.0.1"
    # How often a worker reads the queue depth into its gauge and its `render_queue_depth` log
    # line (what the ECS queue-depth scaling policy is computed from).
    renderer_queue_report_seconds: float = Field(default=15.0, gt=0)
    event_stream_maxlen: int = Field(default=100_000, ge=100)
    outbox_sweep_interval_seconds: float = Field(default=2.0, gt=0)
    # An event younger than this is left to the writer's own publish; the sweeper takes the rest.
    outbox_sweep_grace_seconds: float = Field(default=1.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The admin web UI (README, "Admin web UI"): the built bundle, when not the checkout's
    # ui/dist; and the gateway's public URL for its "Open" links (default: the admin page's
    # host at DYNDASH_GATEWAY_PORT).
    admin_ui_dir: Path | None = None
    admin_ui_gateway_url: str | None = None
    # Origins every page's Content-Security-Policy adds, as `handler_config.csp` does per
    # route: a JSON object, directive → origins (README, "CSP and embedding").
    csp: Annotated[dict[str, list[str]], NoDecode] = Field(default_factory=dict)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("csp", mode="before")
    @classmethod
    def _csp_origins(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError as error:
                raise ValueError(f"DYNDASH_CSP must be a JSON object: {error}") from None
        return check_csp(value, "DYNDASH_CSP")

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [
                ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()
            ]
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        for plain, driver in (
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if value.startswith(plain):
                return driver + value[len(plain) :]
        return value

    @field_validator("redis_url")
    @classmethod
    def _empty_redis_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("bootstrap_api_key")
    @classmethod
    def _bootstrap_key_length(cls, value: str | None) -> str | None:
        if value is not None and not 24 <= len(value) <= MAX_KEY_LENGTH:
            raise ValueError(
                f"DYNDASH_BOOTSTRAP_API_KEY must be 24 to {MAX_KEY_LENGTH} characters long"
            )
        return value or None

    @model_validator(mode="after")
    def _one_process_for_sqlite(self) -> Settings:
        if self.is_sqlite and self.workers > 1:
            raise ValueError(
                "DYNDASH_WORKERS > 1 needs PostgreSQL and Redis: on SQLite the write lock and "
                "the event bus live in one process"
            )
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.env == "production" and self.key_pepper == DEV_KEY_PEPPER:
            raise ValueError("DYNDASH_KEY_PEPPER must be set when DYNDASH_ENV=production")
        if self.env == "production" and len(self.key_pepper) < 32:
            raise ValueError("DYNDASH_KEY_PEPPER must be at least 32 characters")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        """No Redis: the event bus, cache and rate limiter live in this process."""
        return self.redis_url is None


@lru_cache
def get_settings() -> Settings:
    return Settings()
