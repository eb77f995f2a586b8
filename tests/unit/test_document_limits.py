"""Any message document renders within every platform's limits, and its text stays text.

The property the issue asks for: whatever a document holds (hostile market text, huge
tables, every block type), the Telegram and Discord renderings are messages those
services accept, checked with the same rules the fake servers enforce.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings

from bot.chat.discord_messages import to_embed
from bot.core.document import (
    BulletList,
    ChartRef,
    Column,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
)
from bot.render import discord_embeds, telegram_html
from bot.render.discord_embeds import DiscordMessage
from bot.render.plain_text import document_text
from tests.fakes.discord_rules import check_message
from tests.fakes.telegram_api import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, parse_html, utf16_length
from tests.strategies import hostile_documents as documents

PNG = b"\x89PNG\r\n\x1a\nchart"
SLOW = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_OUR_TAGS = re.compile(r"</?(?:b|pre)>")
_CODE_BLOCK = re.compile(r"```\n(.*?)\n```", re.S)


def texts_of(doc: Document) -> list[str]:
    """Every text of the document outside tables (table cells may be cut to a width)."""
    found = [doc.title]
    for block in doc.blocks:
        match block:
            case Heading() | Paragraph() | Footnote():
                found.append(block.text)
            case BulletList():
                found += block.items
            case KeyValues():
                found += [text for pair in block.items for text in pair]
            case Table() | ChartRef():
                pass
    return found


def squeezed(text: str) -> str:
    """``text`` without whitespace: renderers may break long lines and indent."""
    return re.sub(r"\s+", "", text)


# --- Telegram --------------------------------------------------------------------------


def pre_balanced(message: str) -> bool:
    depth = 0
    for tag in re.findall(r"</?pre>", message):
        depth += 1 if tag == "<pre>" else -1
        if depth not in (0, 1):
            return False
    return depth == 0


def check_telegram(doc: Document, attachment: bytes | None) -> None:
    drawn = telegram_html.render_document(doc, attachment)
    shown: list[str] = []
    for text in drawn.texts:
        assert utf16_length(text) <= telegram_html.MESSAGE_LIMIT  # the raw HTML, with room to spare
        assert pre_balanced(text)
        assert set(re.findall(r"<[^>]*>", text)) <= {"<b>", "</b>", "<pre>", "</pre>"}
        visible = parse_html(text)  # raises as Telegram would on broken markup
        assert visible.strip(), "Telegram refuses an empty message"
        assert utf16_length(visible) <= MAX_TEXT_LENGTH
        shown.append(visible)
    assert (drawn.photo is not None) == (attachment is not None)
    if drawn.caption:
        visible = parse_html(drawn.caption)
        assert utf16_length(visible) <= MAX_CAPTION_LENGTH
        shown.append(visible)
    # Market text is shown literally: every text arrives with its tags, stars and @s intact.
    everything = squeezed("".join(shown))
    if not drawn.caption:
        for text in texts_of(doc):
            assert squeezed(text) in everything


@SLOW
@given(documents)
def test_any_document_fits_telegram(doc: Document) -> None:
    check_telegram(doc, None)


@SLOW
@given(documents)
def test_any_document_with_a_chart_fits_telegram(doc: Document) -> None:
    check_telegram(doc, PNG)


# --- Discord ---------------------------------------------------------------------------

SPECIAL = set("\\*_~|`[]<>")


def live_markup(description: str) -> list[str]:
    """Markup in a description that is not ours: unescaped specials, mentions, line marks.

    Ours is code blocks (``` fences around backtick-free rows) and ``**`` pairs (escaped
    market stars are ``\\*``, so a bare ``**`` can only be ours).
    """
    found: list[str] = []
    for body in _CODE_BLOCK.findall(description):
        if "`" in body:
            found.append(f"a backtick inside a code block: {body[:40]!r}")
    outside = _CODE_BLOCK.sub("", description)
    k = 0
    while k < len(outside):
        char = outside[k]
        if char == "\\":
            k += 2
            continue
        if outside.startswith("**", k):
            k += 2
            continue
        if char in SPECIAL:
            found.append(f"unescaped {char!r} in {outside[max(0, k - 20) : k + 20]!r}")
        k += 1
    if re.search(r"@(everyone|here)", outside, re.I):
        found.append("a mass mention")
    for line in outside.split("\n"):
        if re.match(r"\s*(?:\*\*)?\s*(?:#|-\s|>|\d+\.\s)", line):
            found.append(f"a line mark at the start of {line[:40]!r}")
    return found


def check_discord(doc: Document, attachment: bytes | None, *, ephemeral: bool) -> None:
    messages: tuple[DiscordMessage, ...] = discord_embeds.render_document(
        doc, attachment, ephemeral=ephemeral
    )
    assert messages, "a document is at least one message"
    for message in messages:
        assert message.ephemeral is ephemeral
        body = {"embeds": [to_embed(e).to_dict() for e in message.embeds]}
        assert check_message(body, files=int(message.file is not None)) is None
        for embed in message.embeds:
            for text in (embed.title or "", embed.description, embed.footer or ""):
                assert not live_markup(text), live_markup(text)
    files = [m.file for m in messages if m.file is not None]
    assert len(files) == (attachment is not None)
    if files:
        assert messages[-1].file is files[0]
        assert messages[-1].embeds[-1].image == f"attachment://{files[0].filename}"
        assert re.fullmatch(r"[A-Za-z0-9._-]+", files[0].filename)


@SLOW
@given(documents)
def test_any_document_fits_discord(doc: Document) -> None:
    check_discord(doc, None, ephemeral=False)


@SLOW
@given(documents)
def test_any_document_with_a_chart_fits_discord(doc: Document) -> None:
    check_discord(doc, PNG, ephemeral=True)


@pytest.mark.parametrize(
    "hostile", ["<b>bold</b>", "**x**", "@everyone", "`code`", "```", "&amp;", "# head", "- item"]
)
def test_hostile_text_in_every_block_stays_text(hostile: str) -> None:
    table = Table((Column(hostile),), ((hostile,),))
    doc = Document(
        hostile,
        (
            Heading(hostile),
            Paragraph(hostile, strong=True),
            Paragraph(hostile, indent=True),
            BulletList((hostile,)),
            KeyValues(((hostile, hostile),)),
            table,
            Footnote(hostile),
        ),
        source_label=hostile,
    )
    check_telegram(doc, None)
    check_discord(doc, None, ephemeral=False)
    (html,) = telegram_html.render_document(doc).texts
    assert parse_html(html).count(hostile.strip()) >= 8
    assert document_text(doc).count(hostile) >= 8
