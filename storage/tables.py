"""The schema, as SQLAlchemy Core tables: the hot paths (ingest, outbox claims) use Core statements.

Alembic migrations in ``storage/migrations`` create these; ``tests/test_storage.py`` checks they agree.
Times are stored in UTC; :class:`UTCDateTime` hands back aware datetimes on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from stockbot.storage.folding import folded


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identities.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# A delivery attempt that carried a digest (its audit detail lists digest_of), as each database writes it.
# The partial index ix_audit_events_digests holds just these; a query reaches it by repeating this text.
DIGEST_DELIVERIES = {
    "sqlite": "kind LIKE 'delivery.%' AND detail LIKE '%\"digest_of\"%'",
    "postgresql": "kind LIKE 'delivery.%' AND CAST(detail AS TEXT) LIKE '%\"digest_of\"%'",
}

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

products = Table(
    "products",
    metadata,
    Column("sku", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("category", String(64), nullable=False, server_default=""),
    Column("key_product", Boolean, nullable=False, server_default=text("false")),
)
# SKUs match ignoring ASCII case (storage/folding.py): two products may not differ by case alone, and this
# index answers every case-insensitive lookup (events, /stock, /oos, the CLI, catalog import).
Index("uq_products_sku_folded", folded(products.c.sku), unique=True)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("sku", String(64), nullable=False),
    Column("location", String(64), nullable=False),
    Column("minimum", Integer, nullable=False),
    Column("critical_level", Integer),
    Column("on_hand", Integer),
    Column("last_event_at", UTCDateTime),  # occurred_at of the newest applied event
    Column("last_source", String(64)),
    Column("open_alert_id", BigId),  # the one unresolved alert for this SKU and location, if any
    # Days from ordering to stock on the shelf here; None: [reorder] lead_time_days (bot/reports.py).
    Column("lead_time_days", Integer),
    PrimaryKeyConstraint("sku", "location"),
    ForeignKeyConstraint(["sku"], ["products.sku"], ondelete="CASCADE"),
    # The batch check asks "which product-locations are at or below their minimum": a partial covering
    # index answers it without a table scan (a plain composite index is ignored for a column comparison).
    Index(
        "ix_stock_levels_short",
        "sku",
        "location",
        "on_hand",
        "minimum",
        sqlite_where=text("on_hand <= minimum"),
        postgresql_where=text("on_hand <= minimum"),
    ),
)
# Locations match ignoring ASCII case too: "chicago dc" is "Chicago DC", never a second level of one product.
Index("uq_stock_levels_sku_location_folded", stock_levels.c.sku, folded(stock_levels.c.location), unique=True)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(64), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("kind", String(32), nullable=False),  # inventory | fulfillment_failed
    Column("sku", String(64), nullable=False),
    Column("location", String(64), nullable=False),
    Column("on_hand", Integer),
    Column("status", String(32)),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    # applied | stale (older than the level's newest event) | unknown_sku | unknown_location
    Column("outcome", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    UniqueConstraint("source", "event_id"),
    # The feed watchdog asks each source's newest received_at (bot/watchdog.py).
    Index("ix_events_source_received_at", "source", "received_at"),
    Index(
        "ix_events_unmatched",
        "sku",
        postgresql_where=text("outcome LIKE 'unknown%'"),
        sqlite_where=text("outcome LIKE 'unknown%'"),
    ),
    # An alert's timeline and a product's sales since the last roll-up read one product-location's events.
    Index("ix_events_sku_location_occurred_at", "sku", "location", "occurred_at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False),
    Column("location", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # open | acknowledged | escalated | resolved
    Column("severity", String(16), nullable=False),  # low | out | critical
    Column("trigger", String(32), nullable=False),
    Column("on_hand", Integer),
    Column("minimum", Integer, nullable=False),
    Column("critical_level", Integer),
    Column("reason", Text),
    Column("blocked_orders", JSON, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("acknowledged_by", String(200)),
    Column("acknowledged_at", UTCDateTime),
    Column("escalated_by", String(200)),
    Column("escalated_at", UTCDateTime),
    Column("escalation_step", Integer, nullable=False, server_default="0"),
    Column("escalation_note", Text),
    Column("next_step_due_at", UTCDateTime),
    Column("snoozed_until", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("resolved_by", String(200)),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("flagged_by", String(200)),  # who said by hand it is out (/oos), until the flag is cleared
    Column("resolved_note", Text),  # why a person resolved it by hand; None when stock came back
    ForeignKeyConstraint(["sku"], ["products.sku"]),
    # One unresolved alert per SKU and location, enforced by the database across processes.
    Index(
        "uq_alerts_unresolved",
        "sku",
        "location",
        unique=True,
        sqlite_where=text("state <> 'resolved'"),
        postgresql_where=text("state <> 'resolved'"),
    ),
    Index("ix_alerts_sku_location_resolved", "sku", "location", "resolved_at"),
    Index(
        "ix_alerts_due",
        "next_step_due_at",
        sqlite_where=text("next_step_due_at IS NOT NULL"),
        postgresql_where=text("next_step_due_at IS NOT NULL"),
    ),
    # GET /api/v1/alerts pages newest first (id descending) within a state or a location, or since a time.
    Index("ix_alerts_state_id", "state", "id"),
    Index("ix_alerts_location_id", "location", "id"),
    Index("ix_alerts_opened_at", "opened_at"),
)

alert_posts = Table(
    "alert_posts",
    metadata,
    Column("alert_id", BigId, nullable=False),
    Column("channel", String(100), nullable=False),
    Column("external_id", String(500), nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("alert_id", "channel"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId),  # None for `stockbot channels test`
    Column("channel", String(100), nullable=False),
    Column("adapter", String(50), nullable=False),
    Column("event", String(32), nullable=False),
    Column("message", JSON, nullable=False),  # AlertMessage.to_json() at the time of the change
    Column("idempotency_key", String(200), nullable=False, unique=True),
    # pending → sending → delivered | failed (permanent) | dead (too old); dead/failed can be re-driven
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("claimed_by", String(100)),
    Column("claim_expires_at", UTCDateTime),
    Column("last_error", Text),
    Column("external_id", String(500)),
    Column("finished_at", UTCDateTime),
    Index(
        "ix_deliveries_due",
        "next_attempt_at",
        sqlite_where=text("status = 'pending'"),
        postgresql_where=text("status = 'pending'"),
    ),
    Index("ix_deliveries_alert_channel", "alert_id", "channel", "id"),
    Index("ix_deliveries_status", "status"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("kind", String(64), nullable=False),  # event.accepted, alert.opened, delivery.sent, …
    Column("actor", String(200), nullable=False),
    Column("alert_id", BigId),
    Column("subject", String(300)),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_alert_id", "alert_id"),
    # Reports count one kind in a period (delivery.sent for the noise figures) from the index alone; digest
    # deliveries have a partial index of their own (the noise figures, and the timelines of digest members).
    Index("ix_audit_events_kind_at", "kind", "at", "subject", "alert_id"),
    Index(
        "ix_audit_events_digests",
        "at",
        sqlite_where=text(DIGEST_DELIVERIES["sqlite"]),
        postgresql_where=text(DIGEST_DELIVERIES["postgresql"]),
    ),
)

teams_conversations = Table(
    "teams_conversations",
    metadata,
    Column("conversation_id", String(500), primary_key=True),
    Column("reference", JSON, nullable=False),  # the SDK's ConversationReference, with `user`
    Column("scope", String(32), nullable=False),  # personal | team | groupChat | channel
    Column("name", String(300)),
    Column("tenant_id", String(100)),
    Column("installed_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Values an adapter must keep across restarts (QuickBooks' rotated refresh token), Fernet-encrypted with
# STOCKBOT_SECRET_KEY by storage/secrets.py: the database never holds them in plaintext.
adapter_secrets = Table(
    "adapter_secrets",
    metadata,
    Column("name", String(200), primary_key=True),  # e.g. quickbooks:<realm id>:refresh_token
    Column("ciphertext", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# --- history and reports (bot/reports.py, bot/history.py) -------------------------------------------------

# One row per stock-out: an alert from its opening (or reopening) to its resolution. The alert row holds only
# the latest; reports need each one. Written by the alert desk in the transaction of the change.
stockouts = Table(
    "stockouts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("alert_id", BigId, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("location", String(64), nullable=False),
    Column("trigger", String(32), nullable=False),  # what opened it
    Column("severity", String(16), nullable=False),  # the worst it reached: low < out < critical
    Column("opened_at", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime),  # the first acknowledgement
    Column("escalations", Integer, nullable=False, server_default="0"),  # steps taken, not reminders
    Column("resolved_at", UTCDateTime),
    Column("blocked_orders", Integer, nullable=False, server_default="0"),
    Column("blocked_quantity", Integer, nullable=False, server_default="0"),
    Index("ix_stockouts_alert_id", "alert_id"),
    Index("ix_stockouts_opened_at", "opened_at"),
    # "still out during the period": resolved after its start, or not at all (IS NULL uses it too)
    Index("ix_stockouts_resolved_at", "resolved_at"),
)

# Daily totals per product-location, kept for ever; raw events go after [storage] event_retention. A day is
# a UTC date; units move on the day of the later of two readings (README, "History and reports").
daily_stock = Table(
    "daily_stock",
    metadata,
    Column("sku", String(64), nullable=False),
    Column("location", String(64), nullable=False),
    Column("day", Date, nullable=False),
    Column("readings", Integer, nullable=False, server_default="0"),  # level events applied
    Column("units_sold", Integer, nullable=False, server_default="0"),
    Column("units_received", Integer, nullable=False, server_default="0"),
    Column("closing_on_hand", Integer),  # the day's last reading; None when it had none
    Column("failed_fulfilments", Integer, nullable=False, server_default="0"),
    Column("blocked_quantity", Integer, nullable=False, server_default="0"),
    PrimaryKeyConstraint("sku", "location", "day"),
    # Units sold over a period for every product-location, from the index alone.
    Index("ix_daily_stock_day", "day", "sku", "location", "units_sold"),
)

# How far the roll-up has read the events table (by id): everything up to last_event_id is in daily_stock.
rollup_marks = Table(
    "rollup_marks",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("last_event_id", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The last level reading rolled up per product-location: where the next day's first decrease starts from.
rollup_levels = Table(
    "rollup_levels",
    metadata,
    Column("sku", String(64), nullable=False),
    Column("location", String(64), nullable=False),
    Column("on_hand", Integer, nullable=False),
    PrimaryKeyConstraint("sku", "location"),
)

# --- web access: dashboard links, browser sessions, the link-signing key (handlers/web.py) ----------------

web_links = Table(
    "web_links",
    metadata,
    # SHA-256 of the link's nonce: the database never holds a usable link, only a way to recognise one
    Column("nonce_hash", String(64), primary_key=True),
    Column("identity", JSON, nullable=False),  # who asked: via, id, name, groups (bot.access.Identity)
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),  # set once, atomically: a link opens one session
    Index("ix_web_links_expires_at", "expires_at"),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie's value
    Column("identity", JSON, nullable=False),
    Column("csrf", String(64), nullable=False),  # the per-session token every form posts back
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_web_sessions_expires_at", "expires_at"),
)

web_keys = Table(
    "web_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Slack workspaces that installed stockbot through "Add to Slack" (OAuth v2), one row per workspace: Bolt's
# installation store (storage/slack_installations.py). The tokens are in `secrets`, Fernet-encrypted with
# STOCKBOT_SECRET_KEY like adapter_secrets; the other columns are what an admin may read in the clear.
slack_installations = Table(
    "slack_installations",
    metadata,
    Column("team_id", String(32), primary_key=True),
    Column("enterprise_id", String(32)),
    Column("team_name", String(200)),
    Column("app_id", String(32)),
    Column("bot_id", String(32)),
    Column("bot_user_id", String(32)),
    Column("bot_scopes", Text),
    Column("installer_user_id", String(32)),
    Column("secrets", Text, nullable=False),  # encrypted JSON: bot_token, refresh tokens, webhook URL
    Column("bot_token_expires_at", UTCDateTime),  # only with token rotation
    Column("installed_at", UTCDateTime, nullable=False),
)

# OAuth `state` values issued by /slack/install and consumed once by /slack/oauth_redirect; in the database so
# that any replica can finish an installation another one started.
slack_oauth_states = Table(
    "slack_oauth_states",
    metadata,
    Column("state", String(100), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)

# People who opened stockbot's App Home tab, with the location they filter by: their Home is republished
# when an alert they can see changes.
slack_home_views = Table(
    "slack_home_views",
    metadata,
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("location", String(64)),
    Column("first_opened_at", UTCDateTime, nullable=False),
    Column("last_opened_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("team_id", "user_id"),
)
