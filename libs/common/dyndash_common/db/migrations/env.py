"""Alembic environment: always handed a live connection by dyndash_common.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from dyndash_common.db.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # Several tasks starting at once must not run the same migration twice.
        connection.execute(text("SELECT pg_advisory_xact_lock(7243001)"))
    context.run_migrations()
