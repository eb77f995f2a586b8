"""Message documents as plain text: the console, the ``dps`` query commands and fallbacks.

Layout: the title, the source label under it when set, then the blocks in order; a
heading opens a new paragraph (a blank line before it), and so do the footnotes of a
document that has headings; tables are fixed-width with numbers right-aligned; a chart
is drawn by whoever holds its PNG, so here it is absent.
"""

from __future__ import annotations

from typing import assert_never

from bot.core.document import (
    Block,
    BulletList,
    ChartRef,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
)

INDENT = "  "


def clip(text: str, width: int | None) -> str:
    """``text`` cut to ``width`` characters with ``…`` (unchanged when it fits or no width)."""
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


def table_lines(
    table: Table, *, drop_optional: bool = False, widths: dict[int, int] | None = None
) -> list[str]:
    """A table as fixed-width lines, header first; numbers right-aligned, text left.

    Args:
        drop_optional: leave out the columns the table marks optional (narrow screens).
        widths: per column index, a tighter cut than the column's own ``max_width``.
    """
    keep = [k for k in range(len(table.columns)) if not (drop_optional and k in table.optional)]
    limits = {k: (widths or {}).get(k, table.columns[k].max_width) for k in keep}
    header = [table.columns[k].name for k in keep]
    body = [[clip(row[k], limits[k]) for k in keep] for row in table.rows]
    sizes = [max(len(h), *(len(r[j]) for r in body)) if body else len(h) for j, h in enumerate(header)]
    right = [table.columns[k].kind is not ColumnKind.TEXT for k in keep]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, sizes, right, strict=True)
        ).rstrip()

    return [line(header), *(line(r) for r in body)]


def note_gaps(doc: Document) -> list[bool]:
    """Per block, whether a blank line goes before it because it starts the notes.

    In a document of sections the notes get a blank line, so they do not read as the last
    section's lines; a flat document (``/top``) keeps them right under its table. Every
    renderer that lays out lines follows this, so they all read the same.
    """
    sectioned = any(isinstance(b, Heading) for b in doc.blocks)
    previous: Block | None = None
    gaps = []
    for block in doc.blocks:
        gaps.append(sectioned and isinstance(block, Footnote) and not isinstance(previous, Footnote))
        previous = block
    return gaps


def document_text(doc: Document) -> str:
    """The whole document as plain text."""
    lines = [doc.title] if doc.title else []
    if doc.source_label:
        lines.append(f"Source: {doc.source_label}")
    for block, gap in zip(doc.blocks, note_gaps(doc), strict=True):
        if gap:
            lines.append("")
        match block:
            case Heading():
                lines += ["", block.text]
            case Paragraph():
                lines.append(INDENT + block.text if block.indent else block.text)
            case BulletList():
                lines += [f"- {item}" for item in block.items]
            case KeyValues():
                lines += [f"{key}: {value}" for key, value in block.items]
            case Table():
                lines += table_lines(block)
            case ChartRef():
                pass  # the PNG goes beside the text (a file on the console)
            case Footnote():
                lines.append(block.text)
            case _:
                assert_never(block)
    return "\n".join(lines)
