"""Alembic environment: migrations run on a connection that stockbot hands over (see storage.db.upgrade)."""

from __future__ import annotations

from alembic import context

from stockbot.storage.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `stockbot db upgrade`, which provides the database connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
