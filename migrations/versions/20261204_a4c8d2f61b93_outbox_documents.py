"""outbox payloads become message documents: rows queued as plain text are converted to
version-1 document JSON (first line the title, every other non-blank line a paragraph,
an attached PNG a chart block); downgrade writes documents back as plain text

The document format is built inline, not imported from ``bot``: a migration is frozen
history and must read the same when the code moves on.

Revision ID: a4c8d2f61b93
Revises: 3f6b2d8e4c17
Create Date: 2026-12-04 12:50:00+00:00
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "a4c8d2f61b93"
down_revision: str | Sequence[str] | None = "3f6b2d8e4c17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
INDENT = "  "

outbox = sa.table(
    "outbox",
    sa.column("id", sa.Integer),
    sa.column("payload", sa.Text),
    sa.column("attachment", sa.LargeBinary),
)


def _document(text: str) -> dict[str, Any] | None:
    """The stored payload as document data, or None when it is plain text."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "version" in data and "blocks" in data else None


def text_to_document(text: str, has_chart: bool) -> str:
    """A plain-text payload as version-1 document JSON."""
    lines = text.split("\n")
    blocks: list[dict[str, Any]] = []
    for line in lines[1:]:
        if not line.strip():
            continue
        indent = line.startswith(INDENT)
        body = line[len(INDENT) :] if indent else line
        blocks.append({"type": "paragraph", "text": body.rstrip(), "strong": False, "indent": indent})
    if has_chart:
        blocks.append({"type": "chart", "filename": "chart.png", "caption": "Chart"})
    document = {"version": 1, "title": lines[0], "tone": "info", "source_label": None, "blocks": blocks}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind in ("heading", "footnote"):
        return [str(block["text"])]
    if kind == "paragraph":
        return [(INDENT if block.get("indent") else "") + str(block["text"])]
    if kind == "list":
        return [f"- {item}" for item in block["items"]]
    if kind == "key_values":
        return [f"{key}: {value}" for key, value in block["items"]]
    if kind == "table":
        header = [str(column["name"]) for column in block["columns"]]
        return ["  ".join(row) for row in [header, *block["rows"]]]
    return []  # a chart: its PNG stays in the attachment column


def document_to_text(data: dict[str, Any]) -> str:
    """Document data as plain text: the title, then each block's text, line by line."""
    lines = [str(data.get("title", ""))]
    if data.get("source_label"):
        lines.append(f"Source: {data['source_label']}")
    for block in data.get("blocks", []):
        lines += _block_lines(block)
    return "\n".join(lines)


def _rewrite(convert: Callable[[str, bool], str | None]) -> None:
    """Apply ``convert`` to every outbox row, in id order and batches (None: leave the row).

    Offline (``--sql``) there are no rows to read: the script says so instead of
    converting, and whoever runs it must drain the outbox first.
    """
    if context.is_offline_mode():
        op.execute("-- outbox_documents: queued plain-text rows are converted only by an online upgrade")
        return
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(outbox.c.id, outbox.c.payload, outbox.c.attachment.is_not(None))
            .where(outbox.c.id > last)
            .order_by(outbox.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        changed = []
        for row_id, payload, has_chart in rows:
            new = convert(payload, bool(has_chart))
            if new is not None:
                changed.append({"row_id": row_id, "new_payload": new})
        if changed:
            connection.execute(
                outbox.update()
                .where(outbox.c.id == sa.bindparam("row_id"))
                .values(payload=sa.bindparam("new_payload")),
                changed,
            )
        last = rows[-1][0]


def upgrade() -> None:
    """Convert every plain-text payload to a version-1 document."""
    _rewrite(
        lambda payload, chart: None if _document(payload) is not None else text_to_document(payload, chart)
    )


def downgrade() -> None:
    """Write every document payload back as plain text."""

    def convert(payload: str, _chart: bool) -> str | None:
        data = _document(payload)
        return None if data is None else document_to_text(data)

    _rewrite(convert)
