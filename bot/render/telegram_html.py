"""Command replies, alerts and digests as Telegram HTML messages.

Telegram's HTML parse mode needs only ``&``, ``<`` and ``>`` escaped, so prices, signs and
dots never break a message (MarkdownV2 would). Everything that came from the market or
from a user is escaped; the only markup is ours (``<b>``, ``<pre>``). Long replies are
split between lines under Telegram's 4,096-character limit, closing and reopening a
``<pre>`` block when a table spans two messages; photo captions stay under 1,024.
Telegram counts those characters in UTF-16 code units (an emoji outside the BMP is two),
and so does everything here.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import assert_never

from bot.app.views import (
    ChartReply,
    ErrorReply,
    Reply,
    ScoreCardReply,
    SettingsReply,
    StatusReply,
    TableReply,
    TextReply,
    TrackReply,
)
from bot.render.chunks import split_lines
from bot.render.numbers import utc_text
from bot.render.table import narrow_table, summary_line
from bot.render.text import PARTIAL_NOTE, render_text
from bot.render.track import track_lines

MESSAGE_LIMIT = 4000
"""Telegram allows 4,096 UTF-16 code units after entity parsing; the raw HTML is longer, so
measuring it against this is safe."""
CAPTION_LIMIT = 1024
_PLAIN_LINE = 600  # a plain line escapes to at most 6× its length: still under MESSAGE_LIMIT
_PRE_OPEN, _PRE_CLOSE = "<pre>", "</pre>"
_TABULAR = re.compile(r"\S {2,}\S")  # column-aligned text (digest rows) needs a monospace block


@dataclass(frozen=True, slots=True)
class TelegramMessage:
    """What to send for one reply: HTML texts in order, or a photo with its caption."""

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


def _plain(lines: list[str], *, bold_first: bool = False, pre: bool = False) -> list[Line]:
    out: list[Line] = []
    for k, line in enumerate(lines):
        for part in split_lines(line, _PLAIN_LINE):
            text = escape(part)
            if bold_first and k == 0 and text:
                text = f"<b>{text}</b>"
            out.append((text, pre))
    return out


def pack(lines: list[Line], limit: int = MESSAGE_LIMIT) -> tuple[str, ...]:
    """Join lines into as few messages as fit under ``limit``, keeping ``<pre>`` blocks balanced."""
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
    return tuple(m for m in messages if m.strip())


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


def render_reply(reply: Reply) -> TelegramMessage:
    """The messages that answer one command."""
    match reply:
        case TextReply():
            return TelegramMessage(texts=pack(_text(reply)))
        case TableReply():
            return TelegramMessage(texts=pack(_table(reply)))
        case ChartReply():
            caption = reply.caption + (f"\nSource: {reply.source_label}" if reply.source_label else "")
            return TelegramMessage(photo=reply.png, caption=caption_text(caption), filename=reply.filename)
        case TrackReply():
            return TelegramMessage(texts=pack(_track(reply)))
        case ScoreCardReply() | SettingsReply() | StatusReply() | ErrorReply():
            return TelegramMessage(texts=pack(_plain(render_text(reply).split("\n"), bold_first=True)))
        case _:
            assert_never(reply)


def _text(reply: TextReply) -> list[Line]:
    lines = _plain([reply.title], bold_first=True)
    for section in reply.sections:
        lines.append(("", False))
        if section.heading:
            lines += _plain([section.heading], bold_first=True)
            lines += _plain([f"• {line}" for line in section.lines])
        else:
            lines += _plain(list(section.lines))
    if reply.source_label:
        lines += [("", False), *_plain([f"Source: {reply.source_label}"])]
    return lines


def _table(reply: TableReply) -> list[Line]:
    table = reply.table
    head = [f"Derivatives Pressure Score · {reply.title}"]
    if table.source_label:
        head.append(f"Source: {table.source_label}")
    head.append(summary_line(table.summary))
    lines = _plain(head, bold_first=True)
    if table.rows:
        lines += _plain(narrow_table(table).split("\n"), pre=True)
    if any(row.result.partial for row in table.rows):
        lines += _plain([PARTIAL_NOTE])
    data = f"Data as of {utc_text(reply.as_of)}"
    if reply.stale:
        data += " — STALE: collection may have stopped (see /status)"
    return lines + _plain([data, *reply.notes])


def _track(reply: TrackReply) -> list[Line]:
    parts = track_lines(reply)
    return (
        _plain(list(parts.head), bold_first=True)
        + _plain(list(parts.table), pre=True)
        + _plain(list(parts.notes))
    )


def render_payload(text: str) -> tuple[str, ...]:
    """An alert or digest (plain text from the outbox) as HTML messages.

    The first line is the headline (bold); runs of column-aligned lines (digest rows) go
    into a monospace block so they stay aligned on every client.
    """
    lines = text.split("\n")
    out = _plain(lines[:1], bold_first=True)
    out += [(t, bool(_TABULAR.search(raw))) for raw in lines[1:] for t, _ in _plain([raw])]
    return pack(out)


def plain_chunks(text: str) -> tuple[str, ...]:
    """``text`` as plain messages (the fallback when Telegram refuses our HTML)."""
    chunks: list[str] = []
    for chunk in split_lines(text, MESSAGE_LIMIT):
        # split_lines counts characters; half the limit holds even if each is two units.
        chunks += [chunk] if units(chunk) <= MESSAGE_LIMIT else split_lines(chunk, MESSAGE_LIMIT // 2)
    return tuple(chunk for chunk in chunks if chunk.strip())
