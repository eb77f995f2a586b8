"""Message documents (``bot.core.document``) as Telegram HTML messages.

Telegram's HTML parse mode needs only ``&``, ``<`` and ``>`` escaped, so prices, signs and
dots never break a message (MarkdownV2 would). Every text in a document is escaped; the
only markup is ours (``<b>``, ``<pre>``), chosen by block type, never guessed from text.
Long documents are split between lines under Telegram's 4,096-character limit, closing
and reopening a ``<pre>`` block when a table spans two messages; photo captions stay
under 1,024. Telegram counts those characters in UTF-16 code units (an emoji outside
the BMP is two), and so does everything here.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import assert_never

from bot.core.document import (
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
from bot.render.chunks import split_lines
from bot.render.plain_text import INDENT, note_gaps, table_lines
from bot.render.text import safe_filename

MESSAGE_LIMIT = 4000
"""Telegram allows 4,096 UTF-16 code units after entity parsing; the raw HTML is longer, so
measuring it against this is safe."""
CAPTION_LIMIT = 1024
NARROW_TEXT = 16
"""A phone shows about 40 monospace characters: text columns that may be cut (the regime)
are cut to this many in a table."""
_PLAIN_LINE = 600  # a plain line escapes to at most 6× its length: still under MESSAGE_LIMIT
_PRE_OPEN, _PRE_CLOSE = "<pre>", "</pre>"


@dataclass(frozen=True, slots=True)
class TelegramMessage:
    """What to send for one document: HTML texts in order, then maybe a photo.

    A document that is only a chart is the photo with the caption; otherwise the texts go
    first and the photo (uncaptioned) after them.
    """

    texts: tuple[str, ...] = ()
    photo: bytes | None = None
    caption: str | None = None
    filename: str | None = None


Line = tuple[str, bool]
"""One escaped HTML line and whether it belongs in a monospace ``<pre>`` block."""


def units(text: str) -> int:
    """The length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def escape(text: str) -> str:
    """Escape market- or user-derived text for Telegram HTML."""
    return html.escape(text, quote=False)


def _lines(text: str, *, bold: bool = False, pre: bool = False, prefix: str = "") -> list[Line]:
    """``text`` escaped, one ``Line`` per line (over-long lines cut), each bold if asked."""
    out: list[Line] = []
    for k, part in enumerate(split_lines(text, _PLAIN_LINE)):
        shown = escape(part)
        if bold and shown.strip():
            shown = f"<b>{shown}</b>"
        out.append(((prefix if k == 0 else "") + shown, pre))
    return out


def pack(lines: list[Line], limit: int = MESSAGE_LIMIT) -> tuple[str, ...]:
    """Join lines into as few messages as fit under ``limit``, keeping ``<pre>`` blocks balanced.

    Each line must fit a message on its own, with ``<pre></pre>`` around it when it is
    monospace (``_lines`` cuts lines far below ``MESSAGE_LIMIT``).
    """
    messages: list[str] = []
    body: list[str] = []
    length = 0
    in_pre = False
    for text, pre in lines:
        if in_pre and not pre:
            body[-1] += _PRE_CLOSE
            length += units(_PRE_CLOSE)
            in_pre = False
        piece = _PRE_OPEN + text if pre and not in_pre else text
        reserve = units(_PRE_CLOSE) if pre else 0
        if body and length + 1 + units(piece) + reserve > limit:
            messages.append("\n".join(body) + (_PRE_CLOSE if in_pre else ""))
            body, length, in_pre = [], 0, False
            piece = _PRE_OPEN + text if pre else text
        length += units(piece) + (1 if body else 0)
        body.append(piece)
        in_pre = pre
    if body:
        messages.append("\n".join(body) + (_PRE_CLOSE if in_pre else ""))
    # An empty <pre></pre> or blank message would be refused by Telegram.
    return tuple(m for m in messages if m.replace(_PRE_OPEN, "").replace(_PRE_CLOSE, "").strip())


def caption_text(text: str, limit: int = CAPTION_LIMIT) -> str:
    """An escaped caption that fits Telegram's caption limit (cut with an ellipsis)."""
    escaped = escape(text)
    if units(escaped) <= limit:
        return escaped
    kept: list[str] = []
    size = 1  # room for the ellipsis
    for char in text:  # cut the plain text, so no entity is split
        piece = escape(char)
        if size + units(piece) > limit:
            break
        kept.append(piece)
        size += units(piece)
    return "".join(kept) + "…"


def narrow_widths(table: Table) -> dict[int, int]:
    """Tighter cuts for a phone: every text column that may be cut is cut to ``NARROW_TEXT``."""
    return {
        k: min(c.max_width, NARROW_TEXT)
        for k, c in enumerate(table.columns)
        if c.max_width is not None and c.kind is ColumnKind.TEXT
    }


def document_lines(doc: Document) -> list[Line]:
    """The document's text as escaped HTML lines: title and headings bold, tables in ``<pre>``."""
    out = _lines(doc.title, bold=True) if doc.title else []
    if doc.source_label:
        out += _lines(f"Source: {doc.source_label}")
    for block, gap in zip(doc.blocks, note_gaps(doc), strict=True):
        if gap:
            out.append(("", False))
        match block:
            case Heading():
                out += [("", False), *_lines(block.text, bold=True)]
            case Paragraph():
                out += _lines(block.text, bold=block.strong, prefix=INDENT if block.indent else "")
            case BulletList():
                for item in block.items:
                    out += _lines(f"• {item}")
            case KeyValues():
                for key, value in block.items:
                    out += _key_value(key, value)
            case Table():
                shown = table_lines(block, drop_optional=True, widths=narrow_widths(block))
                out += _lines("\n".join(shown), pre=True)
            case ChartRef():
                pass  # the photo travels beside the text
            case Footnote():
                out += _lines(block.text)
            case _:
                assert_never(block)
    return out


def _key_value(key: str, value: str) -> list[Line]:
    if len(key) + len(value) + 2 <= _PLAIN_LINE:
        return [(f"<b>{escape(key)}:</b> {escape(value)}", False)]
    return _lines(f"{key}:", bold=True) + _lines(value)  # too long for one line: key above value


def render_document(doc: Document, attachment: bytes | None = None) -> TelegramMessage:
    """The messages showing ``doc``: HTML texts, then its chart (``attachment``) as a photo.

    A document that is only a chart is one photo captioned with its title (and source).
    """
    chart = doc.chart
    name = safe_filename(chart.filename if chart is not None else "chart.png")
    if attachment is not None and all(isinstance(b, ChartRef) for b in doc.blocks):
        caption = doc.title + (f"\nSource: {doc.source_label}" if doc.source_label else "")
        return TelegramMessage(photo=attachment, caption=caption_text(caption), filename=name)
    texts = pack(document_lines(doc))
    if attachment is None:
        return TelegramMessage(texts=texts)
    return TelegramMessage(texts=texts, photo=attachment, filename=name)


def plain_chunks(text: str) -> tuple[str, ...]:
    """``text`` as plain messages (the fallback when Telegram refuses our HTML)."""
    chunks: list[str] = []
    for chunk in split_lines(text, MESSAGE_LIMIT):
        # split_lines counts characters; half the limit holds even if each is two units.
        chunks += [chunk] if units(chunk) <= MESSAGE_LIMIT else split_lines(chunk, MESSAGE_LIMIT // 2)
    return tuple(chunk for chunk in chunks if chunk.strip())
