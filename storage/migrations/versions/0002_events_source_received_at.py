"""Index events by source and arrival time: the feed watchdog reads each source's newest event.

On a large PostgreSQL events table, create the index first without blocking ingest, and this migration
then finds it in place:
``CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_events_source_received_at ON events (source, received_at);``

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_events_source_received_at", "events", ["source", "received_at"], unique=False, if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_events_source_received_at", table_name="events", if_exists=True)
