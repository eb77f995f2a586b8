"""scores: the mark-price changes and the blended price move behind each regime

Revision ID: 3f6b2d8e4c17
Revises: 9e2d4c7a1b30
Create Date: 2026-12-04 09:20:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3f6b2d8e4c17"
down_revision: str | Sequence[str] | None = "9e2d4c7a1b30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("price_1h_pct", "price_4h_pct", "price_24h_pct", "price_move")


def upgrade() -> None:
    """Upgrade schema: nullable columns, so rows stored before read as 'no price data'."""
    with op.batch_alter_table("scores", schema=None) as batch_op:
        for name in _COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("scores", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
