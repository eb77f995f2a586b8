"""market_snapshots, scores: an hour bucket, and the (exchange, hour, symbol, ts) index in
place of (exchange, symbol, ts)

A symbol-first index put each of a cycle's rows on its own leaf page (5,000 dirty pages per
table per cycle); hour before symbol keeps a cycle's inserts together, and per-symbol
reads still seek it, one (hour, symbol) pair at a time.

Revision ID: d8f1b6a2c954
Revises: c7e5a9d3f012
Create Date: 2026-12-04 23:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8f1b6a2c954"
down_revision: str | Sequence[str] | None = "c7e5a9d3f012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("market_snapshots", "scores")


def _hour_sql(dialect: str) -> str:
    """Whole hours since the Unix epoch of ``ts``, as ``bot.storage.models.hour_of``."""
    if dialect == "sqlite":
        # SQLite stores the UTC wall time as text; strftime('%s') reads it as UTC.
        return "CAST(strftime('%s', ts) AS INTEGER) / 3600"
    return "CAST(floor(extract(epoch FROM ts) / 3600) AS INTEGER)"


def upgrade() -> None:
    """Upgrade schema: the column is backfilled from ``ts`` before it becomes NOT NULL."""
    hour = _hour_sql(op.get_bind().dialect.name)
    for table in _TABLES:
        op.add_column(table, sa.Column("hour", sa.Integer(), nullable=True))
        # Table names from the tuple above, no outside input.
        op.execute(sa.text(f"UPDATE {table} SET hour = {hour}"))  # noqa: S608
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("hour", existing_type=sa.Integer(), nullable=False)
            batch_op.drop_index(f"ix_{table}_exchange_symbol_ts")
            batch_op.create_index(
                f"ix_{table}_exchange_hour_symbol_ts", ["exchange", "hour", "symbol", "ts"], unique=False
            )


def downgrade() -> None:
    """Downgrade schema."""
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_exchange_hour_symbol_ts")
            batch_op.create_index(
                f"ix_{table}_exchange_symbol_ts", ["exchange", "symbol", "ts"], unique=False
            )
            batch_op.drop_column("hour")
