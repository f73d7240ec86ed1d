"""ORM models: templates and routes, their history, dashboards, widgets, keys and the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dyndash_common.db.types import BigIdentity, JSONDocument, UTCDateTime, utcnow


class Base(DeclarativeBase):
    pass


class Template(Base):
    __tablename__ = "templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    html_content: Mapped[str] = mapped_column(Text, default="")
    css_content: Mapped[str] = mapped_column(Text, default="")
    js_content: Mapped[str] = mapped_column(Text, default="")
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Names this template includes, extends or imports: the edges of the dependency graph.
    dependencies: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    render_status: Mapped[str | None] = mapped_column(String(20))
    render_error: Mapped[str | None] = mapped_column(Text)
    # The include graph (`dyndash_common.site.failures.graph_digest`) of this version's last
    # render budget failure: no process renders that graph again.
    budget_failure_graph: Mapped[str | None] = mapped_column(String(32))
    # "files" when a site apply wrote it (README, "Sites as code"): API writes then need force.
    managed_by: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateVersion(Base):
    """Immutable: one row per saved version, never updated."""

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    html_content: Mapped[str] = mapped_column(Text)
    css_content: Mapped[str] = mapped_column(Text)
    js_content: Mapped[str] = mapped_column(Text)
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    is_active: Mapped[bool] = mapped_column(Boolean)
    author_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dashboard(Base):
    __tablename__ = "dashboards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str | None] = mapped_column(Text)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # "files" when a site apply wrote it (README, "Sites as code"): API writes then need force.
    managed_by: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Route(Base):
    __tablename__ = "routes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(200), unique=True)
    # None: the built-in dashboard layout (README, "Widgets").
    template_id: Mapped[int | None] = mapped_column(ForeignKey("templates.id", ondelete="RESTRICT"))
    method: Mapped[str] = mapped_column(String(10), default="GET")
    handler_config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Copied from handler_config.dashboard_id so the database itself refuses a dangling dashboard.
    dashboard_id: Mapped[int | None] = mapped_column(
        ForeignKey("dashboards.id", ondelete="RESTRICT")
    )
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # "files" when a site apply wrote it (README, "Sites as code"): API writes then need force.
    managed_by: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Widget(Base):
    __tablename__ = "widgets"
    __table_args__ = (UniqueConstraint("dashboard_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dashboard_id: Mapped[int] = mapped_column(ForeignKey("dashboards.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[str] = mapped_column(String(50), default="generic")
    config: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    data: Mapped[Any] = mapped_column(JSONDocument, nullable=True, default=dict)
    data_version: Mapped[int] = mapped_column(Integer, default=0)
    # Order in the built-in layout, and what renders into the page (0 first; README,
    # "Priority loading").
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # "files" when a site apply wrote it (README, "Sites as code"): API writes then need force.
    managed_by: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # The public head of the key, used to find the row; the secret is only ever hashed.
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """The outbox: written in the same transaction as the change it describes."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_unpublished", "published_at", "id"),)

    id: Mapped[int] = mapped_column(BigIdentity, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(50))
    entity_kind: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
