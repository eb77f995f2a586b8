"""chat_settings.alert_venues: the venues whose alerts and digest a chat follows

Revision ID: e3a7c91b5d40
Revises: d8f1b6a2c954
Create Date: 2026-12-05 03:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3a7c91b5d40"
down_revision: str | Sequence[str] | None = "d8f1b6a2c954"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: every existing chat keeps the default (empty: the aggregate, or the one venue)."""
    with op.batch_alter_table("chat_settings") as batch:
        batch.add_column(
            sa.Column("alert_venues", sa.String(length=200), server_default=sa.text("''"), nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema: the chats' venue choices are dropped (they all follow the first venue again)."""
    with op.batch_alter_table("chat_settings") as batch:
        batch.drop_column("alert_venues")
