"""Database: models, engine and migrations."""

from __future__ import annotations

from dyndash_common.db.engine import Database, create_engine
from dyndash_common.db.migrate import MIGRATIONS, downgrade, upgrade
from dyndash_common.db.models import (
    ApiKey,
    Base,
    Dashboard,
    Event,
    Route,
    Template,
    TemplateVersion,
    Widget,
)
from dyndash_common.db.types import utcnow

__all__ = [
    "MIGRATIONS",
    "ApiKey",
    "Base",
    "Dashboard",
    "Database",
    "Event",
    "Route",
    "Template",
    "TemplateVersion",
    "Widget",
    "create_engine",
    "downgrade",
    "upgrade",
    "utcnow",
]
