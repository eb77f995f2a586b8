"""outbox parts_sent and bot_state: resume a multi-part message at the part that failed;
small named values the bot keeps across restarts (the Discord command set's hash)

Revision ID: 9e2d4c7a1b30
Revises: 5c3e1f0a9d21
Create Date: 2026-12-04 05:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e2d4c7a1b30"
down_revision: str | Sequence[str] | None = "5c3e1f0a9d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("parts_sent", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.create_table(
        "bot_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_bot_state")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("bot_state")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("parts_sent")
