"""Message documents built from plain text, for tests that only care about how many parts a message has."""

from __future__ import annotations

from bot.core.document import ChartRef, Document, Paragraph


def text_document(text: str, attachment: bytes | None = None) -> Document:
    """``text`` as a document: its first line the title, every other line a paragraph, and a
    chart block when an ``attachment`` goes with it."""
    title, *lines = text.split("\n")
    chart = (ChartRef("chart.png", "chart"),) if attachment is not None else ()
    return Document(title=title, blocks=(*(Paragraph(line) for line in lines), *chart))
