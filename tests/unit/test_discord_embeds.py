"""Message documents (replies, alerts, digests) as Discord embed data: limits, colours, escaping."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.views import (
    ChartReply,
    ErrorKind,
    ErrorReply,
    Reply,
    ScoreCardReply,
    TableReply,
    TextReply,
    TextSection,
    rank,
)
from bot.core.document import (
    ChartRef,
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
    Tone,
)
from bot.core.models import Band
from bot.core.records import ScoreCard
from bot.render.discord_embeds import (
    BAND_COLOURS,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    EMBEDS_PER_MESSAGE,
    ERROR_COLOUR,
    FOOTER_LIMIT,
    INFO_COLOUR,
    TITLE_LIMIT,
    TONE_COLOURS,
    DiscordMessage,
    escape,
    render_document,
    render_reply,
)
from bot.render.text import safe_filename
from tests.fakes.scored_market import FAKE_PNG, LATEST, SOURCE, record

SPECIAL = set("\\*_~|`[]<>")


def within_limits(messages: tuple[DiscordMessage, ...]) -> None:
    """Every message holds 1–10 embeds and ≤6,000 embed characters; every part fits."""
    assert messages
    for message in messages:
        assert 1 <= len(message.embeds) <= EMBEDS_PER_MESSAGE
        assert sum(e.size for e in message.embeds) <= EMBED_TOTAL_LIMIT
        for embed in message.embeds:
            assert len(embed.description) <= DESCRIPTION_LIMIT
            assert len(embed.title or "") <= TITLE_LIMIT
            assert len(embed.footer or "") <= FOOTER_LIMIT
            assert embed.title or embed.description or embed.image


def all_embeds(messages: tuple[DiscordMessage, ...]) -> list[str]:
    return [e.description for m in messages for e in m.embeds]


def unescaped(text: str) -> set[str]:
    """Special characters in ``text`` that no backslash escapes."""
    found: set[str] = set()
    k = 0
    while k < len(text):
        if text[k] == "\\":
            k += 2
            continue
        if text[k] in SPECIAL:
            found.add(text[k])
        k += 1
    return found


def table_reply(rows: int) -> TableReply:
    symbols = [f"C{k:04d}USDT" for k in range(rows)]
    scored = [(s, r.inputs, r.result) for s in symbols for r in [record(s, LATEST)]]
    return TableReply(rank(scored, source_label=SOURCE), title=f"Top {rows}", as_of=LATEST)


# --- limits ----------------------------------------------------------------------------


def test_a_500_row_table_is_split_into_messages_within_every_limit() -> None:
    messages = render_reply(table_reply(500))
    within_limits(messages)
    assert len(messages) > 1
    blocks = [b for d in all_embeds(messages) for b in re.findall(r"```\n(.*?)\n```", d, re.S)]
    header = blocks[0].split("\n")[0]
    assert all(block.split("\n")[0] == header for block in blocks)  # each piece has the header
    rows = [line for block in blocks for line in block.split("\n")[1:]]
    assert [row.split()[0] for row in rows] == [str(k) for k in range(1, 501)]  # each row once, in order
    first = messages[0].embeds[0]
    assert first.title == "Derivatives Pressure Score · Top 500"
    assert all(e.title is None for m in messages for e in m.embeds[1:])
    assert "Data as of 2025-01-06 12:00 UTC" in all_embeds(messages)[-1]


def test_a_small_table_is_one_embed_coloured_by_its_top_row() -> None:
    reply = table_reply(5)
    (message,) = render_reply(reply)
    (embed,) = message.embeds
    assert embed.colour == BAND_COLOURS[reply.table.rows[0].result.band]
    assert embed.description.count("```") == 2
    assert not message.ephemeral


def test_an_empty_table_says_so_without_a_code_block() -> None:
    reply = replace(table_reply(0), notes=("No symbol matches this filter right now.",))
    (message,) = render_reply(reply)
    assert "```" not in message.embeds[0].description
    assert "No symbol matches" in message.embeds[0].description


def alert_batch(count: int) -> Document:
    blocks = []
    for k in range(count):
        blocks += [
            Heading(f"C{k:03d}USDT lean → stretched · score 40 (was 30) · LONG"),
            Paragraph("Long crowded", indent=True),
            Paragraph("data 2025-01-06 12:00 UTC", indent=True),
        ]
    return Document("Derivatives Pressure alerts", (*blocks, ChartRef("chart.png", "")), tone=Tone.STRETCHED)


def test_a_long_alert_batch_is_split_and_the_chart_goes_with_the_last_embed() -> None:
    messages = render_document(alert_batch(200), FAKE_PNG)
    within_limits(messages)
    assert len(messages) > 1
    assert [m.file is not None for m in messages] == [False] * (len(messages) - 1) + [True]
    last = messages[-1]
    assert last.file is not None and last.file.data == FAKE_PNG
    assert last.embeds[-1].image == f"attachment://{last.file.filename}"
    assert sum(d.count("**C") for d in all_embeds(messages)) == 200  # every headline, bold
    assert sum(d.count("lean → stretched") for d in all_embeds(messages)) == 200
    assert {e.colour for m in messages for e in m.embeds} == {BAND_COLOURS[Band.STRETCHED]}


@given(st.lists(st.text(max_size=3000), min_size=1, max_size=12))
def test_any_paragraphs_fit_discord(lines: list[str]) -> None:
    within_limits(render_document(Document("t", tuple(Paragraph(line) for line in lines))))


def test_a_single_huge_line_is_cut_and_still_escaped() -> None:
    messages = render_document(Document("title", (Paragraph("*" * 20_000),)))
    within_limits(messages)
    assert not any(unescaped(d) for d in all_embeds(messages))
    assert sum(d.count("\\*") for d in all_embeds(messages)) == 20_000  # cut, nothing lost


def test_key_values_show_the_key_bold_and_the_value_escaped() -> None:
    doc = Document(
        "Status",
        (
            KeyValues(
                (("Exchange", "*binance* @everyone"), ("Symbols tracked", "3")),
            ),
        ),
    )
    (message,) = render_document(doc)
    assert message.embeds[0].description == (
        "**Exchange:** \\*binance\\* @\u200beveryone\n**Symbols tracked:** 3"
    )


def test_a_digest_table_is_a_code_block_under_its_bold_heading() -> None:
    table = Table(
        (Column("Symbol"), Column("Score", ColumnKind.NUMBER)), (("SUIUSDT", "72"), ("ARBUSDT", "8"))
    )
    doc = Document("Digest", (Heading("Top stress"), table, Footnote("data 2026-11-17 08:00 UTC")))
    (message,) = render_document(doc)
    assert message.embeds[0].description == (
        "**Top stress**\n```\nSymbol   Score\nSUIUSDT     72\nARBUSDT      8\n```\ndata 2026-11-17 08:00 UTC"
    )


def test_every_tone_has_its_colour() -> None:
    assert TONE_COLOURS[Tone.INFO] == INFO_COLOUR
    assert TONE_COLOURS[Tone.ERROR] == ERROR_COLOUR
    for doc_tone, band in [(Tone.NEUTRAL, Band.NEUTRAL), (Tone.STRESSED, Band.STRESSED)]:
        (message,) = render_document(Document("x", tone=doc_tone))
        assert message.embeds[0].colour == BAND_COLOURS[band]


def test_a_document_with_nothing_in_it_is_still_a_valid_embed() -> None:
    (message,) = render_document(Document(""))
    assert message.embeds[0].description == "…"  # Discord refuses an empty embed


# --- colours, ephemerality, titles ---------------------------------------------------


@pytest.mark.parametrize("band", list(Band))
def test_a_score_card_is_coloured_by_its_band(band: Band) -> None:
    latest = record("BTCUSDT", LATEST)
    latest = replace(latest, result=replace(latest.result, band=band))
    reply = ScoreCardReply(ScoreCard(latest, None, None), age=timedelta(minutes=2), stale=False)
    (message,) = render_reply(reply)
    assert message.embeds[0].colour == BAND_COLOURS[band]
    assert len(set(BAND_COLOURS.values())) == 4


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_refusal_is_ephemeral_and_grey(kind: ErrorKind) -> None:
    reply = ErrorReply(kind, "No.", suggestions=("BTCUSDT", "BTCDOMUSDT"))
    (message,) = render_reply(reply)
    assert message.ephemeral
    (embed,) = message.embeds
    assert embed.colour == ERROR_COLOUR
    assert "Did you mean: BTCUSDT, BTCDOMUSDT?" in embed.description


def test_help_sections_become_bold_headings_with_bullets() -> None:
    reply = TextReply("Help", (TextSection(None, ("About.",)), TextSection("Commands", ("/top", "/score"))))
    (message,) = render_reply(reply)
    assert message.embeds[0].description == "About.\n\n**Commands**\n• /top\n• /score"


def test_a_huge_title_is_shortened_after_escaping() -> None:
    reply: Reply = ChartReply(png=FAKE_PNG, caption="_" * 1000, filename="x.png")
    (message,) = render_reply(reply)
    title = message.embeds[0].title
    assert title is not None and len(title) <= TITLE_LIMIT and title.endswith("…")
    assert not unescaped(title)


@pytest.mark.parametrize(
    ("caption", "kept"),
    [
        ("*" * 300, "\\*" * 127),  # every character doubles when escaped
        ("a" * 200 + "_" * 100, "a" * 200 + "\\_" * 27),  # doubling only at the end
        ("BTCUSDT " + "x" * 400, "BTCUSDT " + "x" * 247),  # nothing to escape
    ],
    ids=["all-escaped", "escaped-tail", "plain"],
)
def test_a_long_title_keeps_as_much_as_fits_after_escaping(caption: str, kept: str) -> None:
    # Used to come out as a lone "…" whenever escaping made the text longer than the limit.
    reply: Reply = ChartReply(png=FAKE_PNG, caption=caption, filename="x.png")
    (message,) = render_reply(reply)
    assert message.embeds[0].title == kept + "…"
    assert len(kept) + 1 <= TITLE_LIMIT < len(kept) + 3  # one more character would not fit


@given(st.text(min_size=1, max_size=600).filter(lambda t: t.strip() and "\n" not in t))
def test_any_title_is_cut_to_the_longest_escaped_prefix(caption: str) -> None:
    title = render_document(Document(caption, (Paragraph("body"),)))[0].embeds[0].title
    assert title is not None and len(title) <= TITLE_LIMIT
    if title.endswith("…") and len(escape(caption.strip())) > TITLE_LIMIT:
        shown = title[:-1]
        raw = caption.strip()
        cut = next(n for n in range(len(raw) + 1) if escape(raw[:n]) == shown)
        assert len(escape(raw[: cut + 1])) + 1 > TITLE_LIMIT  # the next character would not fit


def test_a_chart_file_name_is_made_safe_for_attachment_urls() -> None:
    reply = ChartReply(png=FAKE_PNG, caption="c", filename="../dps `BTC` @everyone.png")
    (message,) = render_reply(reply)
    assert message.file is not None
    assert message.file.filename == "dps_BTC_everyone.png"
    assert message.embeds[0].image == "attachment://dps_BTC_everyone.png"
    assert safe_filename("...") == "chart.png"


# --- escaping --------------------------------------------------------------------------


def test_escape_defuses_mentions_links_and_markdown() -> None:
    text = "@everyone @here <@123> <@&456> <#789> [x](https://evil.example) **b** __u__ ~~s~~ ||p|| `c`"
    shown = escape(text)
    assert "@\u200beveryone" in shown and "@\u200bhere" in shown
    assert not unescaped(shown)
    assert "\\<@123\\>" in shown and "\\[x\\](https://evil.example)" in shown


def test_escape_defuses_headings_quotes_and_lists_at_line_starts_only() -> None:
    assert escape("# big\n> quote\n- item\n  1. one\nmid - dash # hash 2. two") == (
        "\\# big\n\\> quote\n\\- item\n  1\\. one\nmid - dash # hash 2. two"
    )


def test_code_blocks_cannot_be_broken_out_of() -> None:
    table = Table((Column("A```B"), Column("n", ColumnKind.NUMBER)), (("```@everyone", "2"),))
    (message,) = render_document(Document("title", (table,)))
    description = message.embeds[0].description
    assert description.count("```") == 2  # only the block's own fences
    assert "Aˋˋˋ" in description and "ˋˋˋ@everyone" in description


@given(st.text(alphabet=st.characters(blacklist_characters="\u200b"), max_size=200))
def test_escape_leaves_nothing_live_and_reads_back(text: str) -> None:
    shown = escape(text)
    assert not unescaped(shown)
    assert "@everyone" not in shown and "@here" not in shown
    assert re.sub(r"\\(.)", r"\1", shown, flags=re.S).replace("@\u200b", "@") == text
