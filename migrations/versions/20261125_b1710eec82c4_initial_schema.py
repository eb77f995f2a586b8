"""initial schema: snapshots, scores, alert state, chats, watchlists, outbox, digests

Revision ID: b1710eec82c4
Revises:
Create Date: 2026-11-25 19:23:31.338012+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b1710eec82c4"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "alert_states",
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("confirmed_band", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("bias", sa.String(length=32), nullable=False),
        sa.Column("regime", sa.String(length=32), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("oi_1h_pct", sa.Float(), nullable=True),
        sa.Column("oi_4h_pct", sa.Float(), nullable=True),
        sa.Column("oi_24h_pct", sa.Float(), nullable=True),
        sa.Column("funding_8h_pct", sa.Float(), nullable=True),
        sa.Column("basis_pct", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("exchange", "symbol", name=op.f("pk_alert_states")),
    )
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("thread_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
        sa.UniqueConstraint(
            "platform", "chat_id", "thread_id", name=op.f("uq_chats_platform_chat_id_thread_id")
        ),
    )
    op.create_table(
        "market_snapshots",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("oi_contracts", sa.Float(), nullable=True),
        sa.Column("oi_usd", sa.Float(), nullable=True),
        sa.Column("mark_price", sa.Float(), nullable=True),
        sa.Column("index_price", sa.Float(), nullable=True),
        sa.Column("last_price", sa.Float(), nullable=True),
        sa.Column("funding_rate", sa.Float(), nullable=True),
        sa.Column("funding_interval_h", sa.Float(), nullable=True),
        sa.Column("next_funding_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("volume_24h_usd", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_snapshots")),
        sa.UniqueConstraint("exchange", "ts", "symbol", name=op.f("uq_market_snapshots_exchange_ts_symbol")),
    )
    op.create_index(
        "ix_market_snapshots_exchange_symbol_ts",
        "market_snapshots",
        ["exchange", "symbol", "ts"],
        unique=False,
    )

    op.create_table(
        "scores",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("bias", sa.String(length=32), nullable=False),
        sa.Column("regime", sa.String(length=32), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("oi_1h_pct", sa.Float(), nullable=True),
        sa.Column("oi_4h_pct", sa.Float(), nullable=True),
        sa.Column("oi_24h_pct", sa.Float(), nullable=True),
        sa.Column("funding_pct", sa.Float(), nullable=True),
        sa.Column("funding_interval_h", sa.Float(), nullable=True),
        sa.Column("basis_pct", sa.Float(), nullable=True),
        sa.Column("funding_8h_pct", sa.Float(), nullable=True),
        sa.Column("funding_excess_pct", sa.Float(), nullable=True),
        sa.Column("funding_annualised_pct", sa.Float(), nullable=True),
        sa.Column("funding", sa.Float(), nullable=False),
        sa.Column("basis", sa.Float(), nullable=False),
        sa.Column("oi_build", sa.Float(), nullable=False),
        sa.Column("oi_unwind", sa.Float(), nullable=False),
        sa.Column("positioning", sa.Float(), nullable=False),
        sa.Column("direction", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scores")),
        sa.UniqueConstraint("exchange", "ts", "symbol", name=op.f("uq_scores_exchange_ts_symbol")),
    )
    op.create_index("ix_scores_exchange_symbol_ts", "scores", ["exchange", "symbol", "ts"], unique=False)

    op.create_table(
        "alert_marks",
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange", "symbol"],
            ["alert_states.exchange", "alert_states.symbol"],
            name=op.f("fk_alert_marks_exchange_symbol_alert_states"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("exchange", "symbol", "kind", name=op.f("pk_alert_marks")),
    )
    op.create_table(
        "chat_settings",
        sa.Column("chat_ref", sa.Integer(), nullable=False),
        sa.Column("alerts_enabled", sa.Boolean(), nullable=False),
        sa.Column("min_band", sa.String(length=32), nullable=False),
        sa.Column("kind_band_up", sa.Boolean(), nullable=False),
        sa.Column("kind_band_down", sa.Boolean(), nullable=False),
        sa.Column("kind_squeeze_risk", sa.Boolean(), nullable=False),
        sa.Column("kind_bias_flip", sa.Boolean(), nullable=False),
        sa.Column("watchlist_only", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("digest_enabled", sa.Boolean(), nullable=False),
        sa.Column("digest_time", sa.Time(), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_ref"], ["chats.id"], name=op.f("fk_chat_settings_chat_ref_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_ref", name=op.f("pk_chat_settings")),
    )
    op.create_table(
        "digests_sent",
        sa.Column("chat_ref", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_ref"], ["chats.id"], name=op.f("fk_digests_sent_chat_ref_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_ref", "local_date", name=op.f("pk_digests_sent")),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("chat_ref", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_count", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_ref"], ["chats.id"], name=op.f("fk_outbox_chat_ref_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    op.create_index("ix_outbox_chat_ref_created_at", "outbox", ["chat_ref", "created_at"], unique=False)
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "watchlists",
        sa.Column("chat_ref", sa.Integer(), nullable=False),
        sa.Column("exchange", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_ref"], ["chats.id"], name=op.f("fk_watchlists_chat_ref_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_ref", "exchange", "symbol", name=op.f("pk_watchlists")),
    )


def downgrade() -> None:
    """Downgrade schema (dropping a table drops its indexes)."""
    op.drop_table("watchlists")
    op.drop_table("outbox")
    op.drop_table("digests_sent")
    op.drop_table("chat_settings")
    op.drop_table("alert_marks")
    op.drop_table("scores")
    op.drop_table("market_snapshots")
    op.drop_table("chats")
    op.drop_table("alert_states")
