"""Command replies and outbox payloads as Discord embed data, within Discord's limits.

Pure presentation: this module builds frozen dataclasses (``DiscordMessage`` holding
``EmbedData``) and never imports discord.py; the Discord adapter turns them into
``discord.Embed`` and ``discord.File``. Every reply becomes one or more messages, each
within Discord's limits (10 embeds, 6,000 embed characters, description 4,096, title
256). Text that comes from the market or from a person (symbols, echoed arguments) is
escaped so it can neither format nor mention; tables go into code blocks, where only a
backtick could break out, so backticks are replaced there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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
from bot.core.models import Band
from bot.render.chunks import split_lines
from bot.render.table import aligned_table
from bot.render.text import render_text, safe_filename
from bot.render.track import track_lines

# Discord's limits (discord/embeds.py and abc.py docstrings, Discord's API docs).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
CHUNK = 1900
"""Target size of one description: three such embeds (and a title) fit one message's 6,000."""

BAND_COLOURS: dict[Band, int] = {
    Band.NEUTRAL: 0x2ECC71,  # green
    Band.LEAN: 0xF1C40F,  # yellow
    Band.STRETCHED: 0xE67E22,  # orange
    Band.STRESSED: 0xE74C3C,  # red
}
INFO_COLOUR = 0x5865F2  # Discord blurple: help, settings, charts, alerts and digests
ERROR_COLOUR = 0x95A5A6  # grey: a refusal is not market stress, so not red
CHART_NAME = "chart.png"

_ESCAPED = re.compile(r"([\\*_~|`\[\]<>])")
_LINE_MARK = re.compile(r"^(\s*)([#-]|\d+(?=\.\s))", re.MULTILINE)
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
_KEY_VALUE = re.compile(r"([A-Z][A-Za-z /()]{0,30}): (.*)")
_TABLE_LINE = re.compile(r"\S {2,}\S")


@dataclass(frozen=True, slots=True)
class EmbedData:
    """One embed; ``title``, ``description`` and ``footer`` are already escaped.

    Attributes:
        image: an ``attachment://NAME`` URL of a file sent with the same message.
    """

    description: str
    colour: int
    title: str | None = None
    footer: str | None = None
    image: str | None = None

    @property
    def size(self) -> int:
        """The characters Discord counts toward a message's 6,000."""
        return len(self.title or "") + len(self.description) + len(self.footer or "")


@dataclass(frozen=True, slots=True)
class FileData:
    """A file sent with a message (a chart PNG)."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """One message: its embeds, maybe a file, and whether only the asker sees it."""

    embeds: tuple[EmbedData, ...]
    file: FileData | None = None
    ephemeral: bool = False


# --- escaping --------------------------------------------------------------------------


def escape(text: str, *, line_start: bool = True) -> str:
    """``text`` shown literally: no markdown, links, mentions, headings or lists.

    A backslash before any punctuation is dropped by Discord's renderer, so escaping
    more than strictly needed is harmless (before a digit it would show, hence ``1\\.``
    for a numbered list). ``<`` is escaped, which already defuses user, role and channel
    mentions; ``@everyone`` and ``@here`` get a zero-width space. ``line_start=False``
    is for text that follows something on its line, where ``#`` or ``-`` mean nothing.
    """
    text = _ESCAPED.sub(r"\\\1", text)
    if line_start:
        text = _LINE_MARK.sub(_mark, text)
    return _MASS_MENTION.sub("@\u200b\\1", text)


def _mark(match: re.Match[str]) -> str:
    indent, mark = match.group(1), match.group(2)
    # A list number stays as it is and its dot is escaped (``1\\.``); other marks get a backslash.
    return f"{indent}{mark}\\" if mark[0].isdigit() else f"{indent}\\{mark}"


def _fit(text: str, limit: int) -> str:
    """``escape(text)`` shortened (with ``…``) to at most ``limit`` characters.

    Keeps the longest raw prefix whose escaped form still fits beside the ellipsis.
    Escaping can double a text's length, so an overshoot measured on the escaped text
    says little about how much raw text to drop; a binary search over the raw prefix
    does (escaping a longer prefix never gives a shorter text).
    """
    shown = escape(text)
    if len(shown) <= limit:
        return shown
    fits, too_long = 0, len(text)  # escape(text[:fits]) + "…" fits; the whole text does not
    while too_long - fits > 1:
        middle = (fits + too_long) // 2
        if len(escape(text[:middle])) + 1 <= limit:
            fits = middle
        else:
            too_long = middle
    return escape(text[:fits]) + "…"


def _code_lines(lines: Iterable[str]) -> list[str]:
    # Inside a code block only a backtick is special; a look-alike keeps the columns.
    return [line.replace("`", "ˋ") for line in lines]


# --- building descriptions -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    """Lines of text; ``escaped`` lines are ready (ours, with markdown), others raw."""

    lines: tuple[str, ...]
    escaped: bool = False


@dataclass(frozen=True, slots=True)
class _Code:
    """Table rows for a code block; ``header`` is repeated in every piece."""

    rows: tuple[str, ...]
    header: str | None = None


_Block = _Text | _Code


def _text_units(block: _Text, limit: int) -> list[str]:
    units: list[str] = []
    for line in block.lines:
        if block.escaped:
            units.extend(split_lines(line, limit))
        else:  # escaping at most doubles a line, so cut the raw text at half the limit
            units.extend(escape(piece) for piece in split_lines(line, limit // 2))
    return units


def _code_units(block: _Code, limit: int) -> list[str]:
    header = _code_lines([block.header]) if block.header is not None else []
    room = limit - len("```\n\n```") - sum(len(h) + 1 for h in header)
    rows = [piece for row in _code_lines(block.rows) for piece in split_lines(row, room)]
    units: list[str] = []
    for piece in split_lines("\n".join(rows), room):
        units.append("```\n" + "\n".join([*header, piece]) + "\n```")
    return units


def _descriptions(blocks: Sequence[_Block], limit: int = CHUNK) -> list[str]:
    """The blocks as descriptions of at most ``limit`` characters, split between lines
    or table rows (a table continues in a new code block with its header)."""
    units: list[str] = []
    for block in blocks:
        units.extend(_text_units(block, limit) if isinstance(block, _Text) else _code_units(block, limit))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for unit in units:
        if current and size + 1 + len(unit) > limit:
            pieces.append("\n".join(current).strip("\n"))
            current, size = [], 0
        if current or unit:  # a blank line never starts a description
            size += len(unit) + (1 if current else 0)
            current.append(unit)
    if current:
        pieces.append("\n".join(current).strip("\n"))
    return [p for p in pieces if p.strip()] or [""]


def _embeds(
    title: str | None,
    blocks: Sequence[_Block],
    colour: int,
    *,
    footer: str | None = None,
    image: str | None = None,
) -> list[EmbedData]:
    """A title over descriptions; the footer and image go on the last embed."""
    shown_title = _fit(title.strip(), TITLE_LIMIT) if title and title.strip() else None
    shown_footer = _fit(footer.strip(), FOOTER_LIMIT) if footer and footer.strip() else None
    descriptions = _descriptions(blocks)
    if descriptions == [""] and shown_title is None and image is None:
        descriptions = ["…"]  # Discord refuses an embed with nothing in it
    last = len(descriptions) - 1
    return [
        EmbedData(
            description=text,
            colour=colour,
            title=shown_title if k == 0 else None,
            footer=shown_footer if k == last else None,
            image=image if k == last else None,
        )
        for k, text in enumerate(descriptions)
    ]


def pack(
    embeds: Sequence[EmbedData], *, file: FileData | None = None, ephemeral: bool = False
) -> tuple[DiscordMessage, ...]:
    """Embeds grouped into messages of at most 10 embeds and 6,000 characters.

    The file goes with the message whose embed shows it (the last one).
    """
    groups: list[list[EmbedData]] = []
    size = 0
    for embed in embeds:
        if not groups or len(groups[-1]) == EMBEDS_PER_MESSAGE or size + embed.size > EMBED_TOTAL_LIMIT:
            groups.append([])
            size = 0
        groups[-1].append(embed)
        size += embed.size
    last = len(groups) - 1
    return tuple(
        DiscordMessage(tuple(group), file if k == last else None, ephemeral) for k, group in enumerate(groups)
    )


# --- replies ---------------------------------------------------------------------------


def render_reply(reply: Reply) -> tuple[DiscordMessage, ...]:
    """The messages answering one command (errors are ephemeral: only the asker sees them)."""
    match reply:
        case TextReply():
            return pack(_text_reply(reply))
        case TableReply():
            return pack(_table_reply(reply))
        case ScoreCardReply():
            return pack(_from_lines(render_text(reply), BAND_COLOURS[reply.card.latest.result.band]))
        case ChartReply():
            return _chart_reply(reply)
        case SettingsReply():
            return pack(_from_lines(render_text(reply), INFO_COLOUR))
        case StatusReply():
            fresh = reply.last_collection is not None and not reply.stale
            colour = BAND_COLOURS[Band.NEUTRAL if fresh else Band.STRESSED]
            return pack(_from_lines(render_text(reply), colour))
        case TrackReply():
            return pack(_track_reply(reply))
        case ErrorReply():
            lines = render_text(reply).split("\n")
            return pack(_embeds(None, [_Text(tuple(lines))], ERROR_COLOUR), ephemeral=True)
        case _:  # a new reply type must be rendered here: mypy flags this line until it is
            assert_never(reply)


def _key_value(line: str) -> str:
    """``Funding: +0.010% …`` → ``**Funding:** +0\\.010% …`` (our label bold, the rest escaped)."""
    match = _KEY_VALUE.fullmatch(line)
    if match is None:
        return escape(line)
    return f"**{match.group(1)}:** {escape(match.group(2), line_start=False)}"


def _from_lines(text: str, colour: int) -> list[EmbedData]:
    """A plain-text rendering as an embed: its first line the title, ``Key: value`` lines
    with the key in bold (the card, settings and status read as a small form)."""
    first, *rest = text.split("\n")
    return _embeds(first, [_Text(tuple(_key_value(line) for line in rest), escaped=True)], colour)


def _text_reply(reply: TextReply) -> list[EmbedData]:
    blocks: list[_Block] = []
    for section in reply.sections:
        if blocks:
            blocks.append(_Text(("",)))
        if section.heading:
            blocks.append(_Text((f"**{escape(section.heading)}**",), escaped=True))
            blocks.append(_Text(tuple(f"• {escape(line)}" for line in section.lines), escaped=True))
        else:
            blocks.append(_Text(section.lines))
    if reply.source_label:
        blocks.append(_Text(("", f"Source: {reply.source_label}")))
    return _embeds(reply.title, blocks or [_Text(("",))], INFO_COLOUR)


def _table_reply(reply: TableReply) -> list[EmbedData]:
    """``/top``: the plain-text rendering with its aligned table moved into code blocks
    (split by rows, the header repeated), so both renderings always say the same."""
    text = render_text(reply)
    table = aligned_table(reply.table) if reply.table.rows else ""
    before, found, after = text.partition(table) if table else (text, "", "")
    title, *head = before.strip("\n").split("\n")
    blocks: list[_Block] = [_Text(tuple(head))]
    if found:
        header, *rows = found.split("\n")
        blocks.append(_Code(tuple(rows), header))
    if after.strip("\n"):
        blocks.append(_Text(tuple(after.strip("\n").split("\n"))))
    rows_shown = reply.table.rows
    colour = BAND_COLOURS[rows_shown[0].result.band] if rows_shown else INFO_COLOUR
    return _embeds(title, blocks, colour)


def _track_reply(reply: TrackReply) -> list[EmbedData]:
    """``/track``: the heading as text, the per-band table in a code block, then the notes."""
    parts = track_lines(reply)
    title, *head = parts.head
    header, *rows = parts.table
    blocks: list[_Block] = [_Text(tuple(head)), _Code(tuple(rows), header), _Text(parts.notes)]
    return _embeds(title, blocks, INFO_COLOUR)


def _chart_reply(reply: ChartReply) -> tuple[DiscordMessage, ...]:
    name = safe_filename(reply.filename)
    source = (f"Source: {reply.source_label}",) if reply.source_label else ()
    embeds = _embeds(reply.caption, [_Text(source)], INFO_COLOUR, image=f"attachment://{name}")
    return pack(embeds, file=FileData(name, reply.png))


# --- outbox payloads (alerts and digests) ---------------------------------------------


def _payload_blocks(lines: Sequence[str]) -> list[_Block]:
    """Aligned rows (two or more spaces between words) become code blocks; a line
    introducing indented lines or rows is bold (an alert's headline, a digest heading)."""
    blocks: list[_Block] = []
    for k, line in enumerate(lines):
        if _TABLE_LINE.search(line.strip()):
            if blocks and isinstance(blocks[-1], _Code):
                blocks[-1] = _Code((*blocks[-1].rows, line))
            else:
                blocks.append(_Code((line,)))
            continue
        following = lines[k + 1] if k + 1 < len(lines) else ""
        heading = line.strip() and not line[:1].isspace()
        if heading and (following[:1].isspace() or _TABLE_LINE.search(following.strip())):
            blocks.append(_Text((f"**{escape(line)}**",), escaped=True))
        else:
            blocks.append(_Text((line,)))
    return blocks


def render_payload(payload: str, attachment: bytes | None = None) -> tuple[DiscordMessage, ...]:
    """An alert batch or digest (plain text from ``bot.render.alerts``/``digest``) as messages.

    The first line is the title; a PNG ``attachment`` is shown as the last embed's image.
    """
    first, *rest = payload.strip("\n").split("\n")
    image = f"attachment://{CHART_NAME}" if attachment is not None else None
    embeds = _embeds(first, _payload_blocks(rest), INFO_COLOUR, image=image)
    file = FileData(CHART_NAME, attachment) if attachment is not None else None
    return pack(embeds, file=file)
