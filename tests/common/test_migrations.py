"""One Alembic history that upgrades and downgrades on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from dyndash_common.db import Base, create_engine, downgrade, upgrade
from tests.utils.backends import Backend


async def _tables(backend: Backend) -> set[str]:
    engine = create_engine(backend.settings.database_url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_history_matches_models_and_round_trips(backend: Backend) -> None:
    assert await _tables(backend) == set(Base.metadata.tables)
    engine = create_engine(backend.settings.database_url)
    try:
        await downgrade(engine, "base")
        assert await _tables(backend) == set()
        await upgrade(engine)
    finally:
        await engine.dispose()
    assert await _tables(backend) == set(Base.metadata.tables)


async def test_migrated_schema_has_no_drift_from_models(backend: Backend) -> None:
    def compare(sync: Connection) -> list[object]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(backend.settings.database_url)
    async with engine.connect() as connection:
        drift = await connection.run_sync(compare)
    await engine.dispose()
    assert drift == []
