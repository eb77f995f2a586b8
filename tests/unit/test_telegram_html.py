"""Telegram HTML from message documents: escaping, monospace tables, splitting under the limits."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.app.views import (
    ChartReply,
    ErrorKind,
    ErrorReply,
    Reply,
    TableReply,
    TextReply,
    TextSection,
    rank,
)
from bot.core.document import (
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
)
from bot.core.models import ScoreInputs
from bot.core.scoring import score
from bot.render.documents import reply_document
from bot.render.plain_text import document_text
from bot.render.telegram_html import (
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    NARROW_TEXT,
    TelegramMessage,
    caption_text,
    pack,
    plain_chunks,
    render_document,
)
from tests.fakes.scored_market import FAKE_PNG, LATEST

_TAG = re.compile(r"</?(?:b|pre)>")


def visible(message: str) -> str:
    """What a Telegram user sees: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", message))


def balanced(message: str) -> bool:
    depth = 0
    for tag in re.findall(r"</?pre>", message):
        depth += 1 if tag == "<pre>" else -1
        if depth not in (0, 1):
            return False
    return depth == 0


def render_reply(reply: Reply) -> TelegramMessage:
    """A command's answer as the adapter draws it."""
    return render_document(reply_document(reply), reply.png if isinstance(reply, ChartReply) else None)


def table_reply(count: int) -> TableReply:
    rows = []
    for k in range(count):
        inputs = ScoreInputs((k % 7) - 3, k % 11, k % 30, 0.01 * (k % 9 - 4), 8, 0.05 * (k % 5 - 2))
        rows.append((f"SYM{k:04d}USDT", inputs, score(inputs)))
    return TableReply(rank(rows), f"Top {count}", LATEST)


def test_market_and_user_text_is_escaped() -> None:
    reply = ErrorReply(ErrorKind.UNKNOWN_SYMBOL, "I don't know the symbol '<b>&x' on binanceusdm.")
    (text,) = render_reply(reply).texts
    assert "<b>&x" not in text
    assert "&lt;b&gt;&amp;x" in text
    assert visible(text) == "I don't know the symbol '<b>&x' on binanceusdm."


def test_help_headings_are_bold_and_lines_bulleted() -> None:
    reply = TextReply("Title <1>", (TextSection("Commands", ("/score SYMBOL — a < b",)),))
    (text,) = render_reply(reply).texts
    assert text.splitlines() == [
        "<b>Title &lt;1&gt;</b>",
        "",
        "<b>Commands</b>",
        "• /score SYMBOL — a &lt; b",
    ]


def test_top_is_a_monospace_block_under_a_bold_title() -> None:
    (text,) = render_reply(table_reply(10)).texts
    lines = text.splitlines()
    assert lines[0] == "<b>Derivatives Pressure Score · Top 10</b>"
    assert lines[2].startswith("<pre> #  Symbol")
    assert text.count("<pre>") == text.count("</pre>") == 1
    assert max(len(line) for line in visible(text).splitlines()) <= 80  # readable on a phone


def test_a_long_table_is_split_with_each_message_complete() -> None:
    messages = render_reply(table_reply(500)).texts
    assert len(messages) > 1
    assert all(len(m) <= MESSAGE_LIMIT and balanced(m) for m in messages)
    shown = "\n".join(visible(m) for m in messages)
    assert all(f"SYM{k:04d}USDT" in shown for k in range(500))
    assert all(m.count("<pre>") == 1 for m in messages[:-1])  # every part keeps the table monospace


def test_chart_is_a_photo_with_a_short_escaped_caption() -> None:
    reply = ChartReply(b"png", "A<B " + "x" * 2000, "dps-A-24h.png", source_label="demo")
    message = render_reply(reply)
    assert message.photo == b"png"
    assert message.texts == ()
    assert message.caption is not None
    assert len(message.caption) <= CAPTION_LIMIT
    assert message.caption.startswith("A&lt;B ")


def test_caption_cut_never_splits_an_entity() -> None:
    caption = caption_text("&" * 3000)
    assert len(caption) <= CAPTION_LIMIT
    assert caption.endswith("&amp;…")


def test_digest_tables_go_into_a_monospace_block() -> None:
    doc = Document(
        "Daily Derivatives Pressure digest · Tue 17 Nov 2026",
        (
            Paragraph("Avg stress 16 · Long bias 2"),
            Heading("Top stress"),
            Table(
                (Column("Symbol"), Column("Score", ColumnKind.NUMBER), Column("Bias"), Column("Regime")),
                (("SUIUSDT", "72", "LONG", "Long crowded"), ("ARBUSDT", "64", "SHORT", "Short squeeze risk")),
            ),
            Footnote("data 2026-11-17 08:00 UTC"),
        ),
    )
    (text,) = render_document(doc).texts
    assert text.startswith("<b>Daily Derivatives Pressure digest")
    assert "<b>Top stress</b>\n<pre>Symbol   Score  Bias   Regime\nSUIUSDT" in text
    assert "Short squeeze risk</pre>\n\ndata" in text
    assert visible(text) == document_text(doc)


def test_alert_lines_stay_plain_text_under_a_bold_headline() -> None:
    doc = Document(
        "Derivatives Pressure alerts",
        (
            Heading("SUIUSDT stretched → stressed · score 72 (was 58) · LONG"),
            Paragraph("Long crowded  and   spaced    like a table", indent=True),
        ),
    )
    (text,) = render_document(doc).texts
    assert "<pre>" not in text  # text is never guessed to be a table
    assert "<b>SUIUSDT stretched → stressed · score 72 (was 58) · LONG</b>" in text
    assert visible(text) == document_text(doc)


def test_key_values_have_the_key_bold_and_both_escaped() -> None:
    doc = Document(
        "Status",
        (
            KeyValues(
                (("Exchange", "<binance>"), ("A&B", "x")),
            ),
        ),
    )
    (text,) = render_document(doc).texts
    assert text.splitlines()[1:] == ["<b>Exchange:</b> &lt;binance&gt;", "<b>A&amp;B:</b> x"]


def test_a_table_on_a_phone_drops_optional_columns_and_cuts_long_text() -> None:
    table = Table(
        (Column("Symbol"), Column("OI 1h", ColumnKind.PERCENT), Column("Regime", max_width=34)),
        (("BTCUSDT", "+1.00%", "Crowded long, rising open interest"),),
        optional=(1,),
    )
    (text,) = render_document(Document("t", (table,))).texts
    assert "OI 1h" not in text and "+1.00%" not in text
    assert "Crowded long, r…" in text
    assert len("Crowded long, r…") == NARROW_TEXT


def test_a_document_with_text_and_a_chart_sends_the_text_then_the_photo() -> None:
    doc = Document("Digest", (Paragraph("body"), Paragraph("more")))
    message = render_document(doc, FAKE_PNG)
    assert message.texts == ("<b>Digest</b>\nbody\nmore",)
    assert message.photo == FAKE_PNG
    assert message.caption is None


def test_plain_fallback_is_split_too() -> None:
    chunks = plain_chunks("line\n" * 2000)
    assert len(chunks) == 3
    assert all(len(c) <= MESSAGE_LIMIT for c in chunks)


# pack's lines must each fit a message with their <pre></pre> (11): 40 + 11 = 51.
@given(st.lists(st.tuples(st.text(max_size=300), st.booleans()), max_size=80), st.integers(51, 500))
def test_pack_keeps_every_line_in_order_within_the_limit(lines: list[tuple[str, bool]], limit: int) -> None:
    escaped = [(html.escape(text.replace("\n", " "), quote=False)[:40], pre) for text, pre in lines]
    messages = pack(escaped, limit)
    assert all(len(m) <= limit and balanced(m) for m in messages)
    kept = [line for m in messages for line in _TAG.sub("", m).split("\n")]
    wanted = [text for text, _ in escaped]
    # Blank-only messages are dropped; everything else arrives, in order.
    assert [k for k in kept if k.strip()] == [w for w in wanted if w.strip()]


@given(st.text(max_size=20_000))
def test_any_paragraph_renders_within_limits_and_reads_back(text: str) -> None:
    messages = render_document(Document("", (Paragraph(text),))).texts
    assert all(0 < len(m) <= MESSAGE_LIMIT and balanced(m) for m in messages)
    shown = "".join(visible(m) for m in messages)
    assert re.sub(r"\s", "", shown) == re.sub(r"\s", "", text)  # nothing lost, nothing added


def test_stale_table_says_so() -> None:
    reply = table_reply(3)
    stale = TableReply(reply.table, reply.title, LATEST - timedelta(hours=1), stale=True)
    assert "STALE" in render_reply(stale).texts[-1]
