"""The schema: migrations build exactly what storage/tables.py describes, on both databases, and go down
and up again cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from stockbot.storage.db import create_engine, upgrade
from stockbot.storage.tables import metadata


async def test_migrations_match_the_table_definitions(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
            )
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert differences == []
        assert set(metadata.tables) <= tables
    finally:
        await engine.dispose()


async def test_downgrade_to_nothing_and_back(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        await upgrade_to(engine, "base")
        async with engine.connect() as conn:
            left = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert left <= {"alembic_version"}
        await upgrade(engine)
    finally:
        await engine.dispose()


async def upgrade_to(engine, revision: str) -> None:
    from alembic import command

    from stockbot.storage.db import alembic_config

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


def test_the_migrations_form_one_line() -> None:
    """Branches that each add a migration must be renumbered on merge: two heads would stop every start."""
    from alembic.script import ScriptDirectory

    from stockbot.storage.db import MIGRATIONS_DIR

    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(scripts.get_heads()) == 1
    revisions = [s.revision for s in scripts.walk_revisions()]
    assert len(revisions) == len(set(revisions)) == len(list(MIGRATIONS_DIR.glob("versions/0*.py")))
