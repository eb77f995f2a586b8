"""webhooks: the URL and signing secret of each webhook chat, and its permanent failures in a row

Revision ID: c7e5a9d3f012
Revises: a4c8d2f61b93
Create Date: 2026-12-04 20:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7e5a9d3f012"
down_revision: str | Sequence[str] | None = "a4c8d2f61b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "webhooks",
        sa.Column("chat_ref", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_ref"], ["chats.id"], name=op.f("fk_webhooks_chat_ref_chats"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("chat_ref", name=op.f("pk_webhooks")),
    )


def downgrade() -> None:
    """Downgrade schema: the webhook chats go too (their outbox rows, settings and
    watchlists cascade), since without a URL they could never be delivered."""
    webhook_chats = "SELECT id FROM chats WHERE platform = 'webhook'"
    # Explicitly, child tables first: foreign keys may not be enforced on a SQLite connection.
    for table in ("outbox", "digests_sent", "watchlists", "chat_settings"):
        # Table names from the tuple above, no outside input.
        op.execute(sa.text(f"DELETE FROM {table} WHERE chat_ref IN ({webhook_chats})"))  # noqa: S608
    op.execute(sa.text("DELETE FROM chats WHERE platform = 'webhook'"))
    op.drop_table("webhooks")
