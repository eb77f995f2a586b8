"""Message documents (``bot.core.document``) as Discord embed data, within Discord's limits.

Pure presentation: this module builds frozen dataclasses (``DiscordMessage`` holding
``EmbedData``) and never imports discord.py; the Discord adapter turns them into
``discord.Embed`` and ``discord.File``. Every document becomes one or more messages, each
within Discord's limits (10 embeds, 6,000 embed characters, description 4,096, title
256). The markup is chosen by block type, never guessed from text: the title is the
embed title, headings and keys are bold, tables go into code blocks. Every text in a
document is escaped so it can neither format nor mention; inside a code block only a
backtick could break out, so backticks are replaced there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import assert_never

from bot.app.views import ChartReply, Reply
from bot.core.document import (
    BulletList,
    ChartRef,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
    Tone,
)
from bot.core.models import Band
from bot.render.chunks import split_lines
from bot.render.documents import reply_document
from bot.render.plain_text import INDENT, table_lines
from bot.render.text import safe_filename

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
INFO_COLOUR = 0x5865F2  # Discord blurple: help, settings, charts, digests
ERROR_COLOUR = 0x95A5A6  # grey: a refusal is not market stress, so not red
TONE_COLOURS: dict[Tone, int] = {
    Tone.INFO: INFO_COLOUR,
    Tone.NEUTRAL: BAND_COLOURS[Band.NEUTRAL],
    Tone.LEAN: BAND_COLOURS[Band.LEAN],
    Tone.STRETCHED: BAND_COLOURS[Band.STRETCHED],
    Tone.STRESSED: BAND_COLOURS[Band.STRESSED],
    Tone.ERROR: ERROR_COLOUR,
}
CHART_NAME = "chart.png"
_PIECE = CHUNK // 2 - 10
"""Raw characters per description line: escaping at most doubles them (plus a mark), and
room is left for bold markers and an indent, so a line never needs cutting once escaped."""

_ESCAPED = re.compile(r"([\\*_~|`\[\]<>])")
_LINE_MARK = re.compile(r"^(\s*)([#-]|\d+(?=\.\s))", re.MULTILINE)
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)


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
    """Lines already escaped (with our markdown), each within a description."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Code:
    """Table rows for a code block; ``header`` is repeated in every piece."""

    rows: tuple[str, ...]
    header: str | None = None


_Block = _Text | _Code


def _code_units(block: _Code, limit: int) -> list[str]:
    header = _code_lines([block.header]) if block.header is not None else []
    room = limit - len("```\n\n```") - sum(len(h) + 1 for h in header)
    rows = [piece for row in _code_lines(block.rows) for piece in split_lines(row, room)]
    if not rows:
        return ["```\n" + "\n".join(header) + "\n```"] if header else []
    return ["```\n" + "\n".join([*header, piece]) + "\n```" for piece in split_lines("\n".join(rows), room)]


def _descriptions(blocks: Sequence[_Block], limit: int = CHUNK) -> list[str]:
    """The blocks as descriptions of at most ``limit`` characters, split between lines
    or table rows (a table continues in a new code block with its header)."""
    units: list[str] = []
    for block in blocks:
        units.extend(block.lines if isinstance(block, _Text) else _code_units(block, limit))
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


# --- documents -------------------------------------------------------------------------


def _escaped(text: str, *, bold: bool = False, prefix: str = "") -> list[str]:
    """``text`` escaped as description lines; the raw text is cut first (``_PIECE``), so a
    cut never separates an escape from the character it protects."""
    out: list[str] = []
    pieces = [piece for line in text.split("\n") for piece in split_lines(line, _PIECE)]
    for k, piece in enumerate(pieces):
        lead = prefix if k == 0 else ""
        shown = escape(piece, line_start=not lead.strip())
        if bold and shown.strip():
            shown = f"**{shown}**"
        out.append(lead + shown)
    return out


def _key_value(key: str, value: str) -> list[str]:
    """``**Funding:** +0\\.010% …``: our key bold, both escaped (a long pair on two lines)."""
    if len(key) + len(value) + 2 <= _PIECE:
        return [f"**{escape(key)}:** {escape(value, line_start=False)}"]
    return _escaped(f"{key}:", bold=True) + _escaped(value)


def _code(table: Table) -> _Code:
    header, *rows = table_lines(table)
    if len(header) > CHUNK // 3:  # too wide to repeat in every piece: it goes once, as a row
        return _Code((header, *rows))
    return _Code(tuple(rows), header)


def document_blocks(doc: Document) -> list[_Block]:
    """The document's body (everything but its title) as description blocks."""
    blocks: list[_Block] = []
    if doc.source_label:
        blocks.append(_Text(tuple(_escaped(f"Source: {doc.source_label}"))))
    for block in doc.blocks:
        match block:
            case Heading():
                blocks.append(_Text(("", *_escaped(block.text, bold=True))))
            case Paragraph():
                prefix = INDENT if block.indent else ""
                blocks.append(_Text(tuple(_escaped(block.text, bold=block.strong, prefix=prefix))))
            case BulletList():
                blocks.append(_Text(tuple(line for i in block.items for line in _escaped(i, prefix="• "))))
            case KeyValues():
                blocks.append(_Text(tuple(line for k, v in block.items for line in _key_value(k, v))))
            case Table():
                blocks.append(_code(block))
            case ChartRef():
                pass  # the attachment is the last embed's image
            case Footnote():
                blocks.append(_Text(tuple(_escaped(block.text))))
            case _:
                assert_never(block)
    return blocks


def render_document(
    doc: Document, attachment: bytes | None = None, *, ephemeral: bool = False
) -> tuple[DiscordMessage, ...]:
    """The messages showing ``doc``; a PNG ``attachment`` (its chart) is the last embed's image.

    ``ephemeral``: only the person who asked sees it (an interaction reply).
    """
    file = None
    if attachment is not None:
        chart = doc.chart
        file = FileData(safe_filename(chart.filename if chart is not None else CHART_NAME), attachment)
    image = f"attachment://{file.filename}" if file is not None else None
    embeds = _embeds(doc.title, document_blocks(doc), TONE_COLOURS[doc.tone], image=image)
    return pack(embeds, file=file, ephemeral=ephemeral)


def render_reply(reply: Reply) -> tuple[DiscordMessage, ...]:
    """The messages answering one command (errors are ephemeral: only the asker sees them)."""
    doc = reply_document(reply)
    png = reply.png if isinstance(reply, ChartReply) else None
    return render_document(doc, png, ephemeral=doc.tone is Tone.ERROR)
