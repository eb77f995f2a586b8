"""scores.accepted: the reading became its symbol's alert-state ``last``

A cycle now stores an alert state only when it changed materially (band, alerts, or the
hour of its reading); the newest accepted score of that hour carries the rest
(``SqlAlertStateStore.load_alert_states``). Existing rows are not accepted: every stored
state holds its own reading, so nothing is rebuilt from them.

Revision ID: 0b9d4e6f2a18
Revises: f5b2e8a1c3d7
Create Date: 2026-12-05 12:30:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0b9d4e6f2a18"
down_revision: str | Sequence[str] | None = "f5b2e8a1c3d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema: a column with a default is added in place on both (no copy of the rows)."""
    op.add_column("scores", sa.Column("accepted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Downgrade schema: the column goes; the stored states may then hold an older reading of
    their hour than the last one scored (the old code reads the state rows as they are).

    Dropped in place (SQLite 3.35+ and PostgreSQL): a batch copy would lose the table's
    ``WITHOUT ROWID`` and the planner statistics ``f5b2e8a1c3d7`` wrote.
    """
    op.drop_column("scores", "accepted")
