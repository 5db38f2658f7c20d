"""History and reports: one row per stock-out, daily totals per product-location, the roll-up's mark and
last readings, a lead time per product-location, and indexes for the report and alert-list queries.

Existing alerts become one stock-out each (their latest opening: the alert row keeps no earlier ones).

On a large PostgreSQL database, create the new indexes on the busy tables first without blocking writes,
and this migration then finds them in place:
``CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_events_sku_location_occurred_at ON events (sku, location,
occurred_at);`` and ``CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_audit_events_kind_at ON audit_events
(kind, at, subject, alert_id);`` (the digest index is partial and small).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import stockbot.storage.tables

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = stockbot.storage.tables.UTCDateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, index, columns) created with IF NOT EXISTS, so a CONCURRENTLY-made index is taken as it is
INDEXES = [
    ("events", "ix_events_sku_location_occurred_at", ["sku", "location", "occurred_at"]),
    ("audit_events", "ix_audit_events_kind_at", ["kind", "at", "subject", "alert_id"]),
    ("alerts", "ix_alerts_state_id", ["state", "id"]),
    ("alerts", "ix_alerts_location_id", ["location", "id"]),
    ("alerts", "ix_alerts_opened_at", ["opened_at"]),
]


def upgrade() -> None:
    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lead_time_days", sa.Integer(), nullable=True))
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False, if_not_exists=True)
    digests = stockbot.storage.tables.DIGEST_DELIVERIES
    op.create_index(
        "ix_audit_events_digests",
        "audit_events",
        ["at"],
        unique=False,
        if_not_exists=True,
        sqlite_where=sa.text(digests["sqlite"]),
        postgresql_where=sa.text(digests["postgresql"]),
    )
    op.create_table(
        "stockouts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("opened_at", UTC_TIME, nullable=False),
        sa.Column("acknowledged_at", UTC_TIME, nullable=True),
        sa.Column("escalations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("resolved_at", UTC_TIME, nullable=True),
        sa.Column("blocked_orders", sa.Integer(), server_default="0", nullable=False),
        sa.Column("blocked_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stockouts")),
    )
    op.create_index("ix_stockouts_alert_id", "stockouts", ["alert_id"], unique=False)
    op.create_index("ix_stockouts_opened_at", "stockouts", ["opened_at"], unique=False)
    op.create_index("ix_stockouts_resolved_at", "stockouts", ["resolved_at"], unique=False)
    op.create_table(
        "daily_stock",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("readings", sa.Integer(), server_default="0", nullable=False),
        sa.Column("units_sold", sa.Integer(), server_default="0", nullable=False),
        sa.Column("units_received", sa.Integer(), server_default="0", nullable=False),
        sa.Column("closing_on_hand", sa.Integer(), nullable=True),
        sa.Column("failed_fulfilments", sa.Integer(), server_default="0", nullable=False),
        sa.Column("blocked_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("sku", "location", "day", name=op.f("pk_daily_stock")),
    )
    op.create_index(
        "ix_daily_stock_day", "daily_stock", ["day", "sku", "location", "units_sold"], unique=False
    )
    op.create_table(
        "rollup_marks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_marks")),
    )
    op.create_table(
        "rollup_levels",
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sku", "location", name=op.f("pk_rollup_levels")),
    )
    _backfill_stockouts()


def _backfill_stockouts() -> None:
    """Each existing alert's latest opening becomes a stock-out (earlier ones are only in the audit log)."""
    conn = op.get_bind()
    alerts = stockbot.storage.tables.alerts
    stockouts = stockbot.storage.tables.stockouts
    names = "id sku location trigger severity opened_at acknowledged_at escalation_step resolved_at"
    # named, so a later migration's new alert columns cannot break this one
    columns = [alerts.c[name] for name in [*names.split(), "blocked_orders"]]
    rows = []
    for alert in conn.execute(sa.select(*columns).order_by(alerts.c.id)).mappings():
        orders = alert["blocked_orders"] or []
        rows.append(
            {
                "alert_id": alert["id"],
                "sku": alert["sku"],
                "location": alert["location"],
                "trigger": alert["trigger"],
                "severity": alert["severity"],
                "opened_at": alert["opened_at"],
                "acknowledged_at": alert["acknowledged_at"],
                "escalations": 1 if alert["escalation_step"] else 0,
                "resolved_at": alert["resolved_at"],
                "blocked_orders": len(orders),
                "blocked_quantity": sum(max(o["requested"] - o["available"], 0) for o in orders),
            }
        )
        if len(rows) >= 5000:
            conn.execute(sa.insert(stockouts), rows)
            rows = []
    if rows:
        conn.execute(sa.insert(stockouts), rows)


def downgrade() -> None:
    op.drop_table("rollup_levels")
    op.drop_table("rollup_marks")
    op.drop_index("ix_daily_stock_day", table_name="daily_stock")
    op.drop_table("daily_stock")
    for name in ("ix_stockouts_resolved_at", "ix_stockouts_opened_at", "ix_stockouts_alert_id"):
        op.drop_index(name, table_name="stockouts")
    op.drop_table("stockouts")
    op.drop_index("ix_audit_events_digests", table_name="audit_events", if_exists=True)
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table, if_exists=True)
    with op.batch_alter_table("stock_levels", schema=None) as batch_op:
        batch_op.drop_column("lead_time_days")
