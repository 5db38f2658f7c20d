"""Who flagged an alert out of stock by hand, so a card can say "flagged by Sam although the system shows 5";
and why a person resolved one by hand (a manager's Resolve, a cleared flag): it must not read "back in stock".

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flagged_by", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("resolved_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("resolved_note")
        batch_op.drop_column("flagged_by")
