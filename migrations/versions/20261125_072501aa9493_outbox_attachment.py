"""outbox attachment: an optional image sent with a message (the daily digest's chart)

Revision ID: 072501aa9493
Revises: b1710eec82c4
Create Date: 2026-11-25 20:48:21+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "072501aa9493"
down_revision: str | Sequence[str] | None = "b1710eec82c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("attachment")
