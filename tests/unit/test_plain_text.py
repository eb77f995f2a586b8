"""Message documents as plain text: every word of the document is there, laid out the same way every time."""

from __future__ import annotations

from hypothesis import given

from bot.core.document import (
    BulletList,
    ChartRef,
    Column,
    ColumnKind,
    Document,
    Footnote,
    Heading,
    KeyValues,
    Paragraph,
    Table,
)
from bot.render.plain_text import clip, document_text, table_lines
from tests.strategies import documents


def _texts(doc: Document) -> list[str]:
    """Every piece of text the document shows, as the plain-text renderer may clip it."""
    found = [doc.title, doc.source_label or ""]
    for block in doc.blocks:
        match block:
            case Heading() | Paragraph() | Footnote():
                found.append(block.text)
            case BulletList():
                found += block.items
            case KeyValues():
                found += [part for pair in block.items for part in pair]
            case Table():
                found += [c.name for c in block.columns]
                found += [
                    clip(cell, c.max_width)
                    for row in block.rows
                    for cell, c in zip(row, block.columns, strict=True)
                ]
            case ChartRef():
                pass  # the chart is the attachment, not text
    return found


@given(documents)
def test_any_document_renders_with_every_text_in_it(doc: Document) -> None:
    text = document_text(doc)
    for piece in _texts(doc):
        # A table pads cells and trims each line's trailing spaces; the words are all there.
        assert piece.strip() in text, piece


@given(documents)
def test_the_title_comes_first_and_the_label_under_it(doc: Document) -> None:
    lines = document_text(doc).split("\n")
    if doc.title and "\n" not in doc.title:
        assert lines[0] == doc.title
        if doc.source_label and "\n" not in doc.source_label:
            assert lines[1] == f"Source: {doc.source_label}"


def test_clip_cuts_with_an_ellipsis_only_when_needed() -> None:
    assert clip("Short ramp · rising OI", 10) == "Short ram…"
    assert clip("Short", 10) == "Short"
    assert clip("Short ramp", None) == "Short ramp"


TABLE = Table(
    (
        Column("#", ColumnKind.NUMBER),
        Column("Symbol"),
        Column("Regime", max_width=8),
        Column("OI", ColumnKind.PERCENT),
    ),
    (("1", "SPKUSDT", "Short ramp", "+47.6%"), ("10", "BBUSDT", "Balanced", "-2.4%")),
    optional=(3,),
)


def test_a_table_has_a_header_numbers_right_and_text_left() -> None:
    assert table_lines(TABLE) == [
        " #  Symbol   Regime        OI",
        " 1  SPKUSDT  Short r…  +47.6%",
        "10  BBUSDT   Balanced   -2.4%",
    ]


def test_a_narrow_table_drops_optional_columns_and_cuts_tighter() -> None:
    assert table_lines(TABLE, drop_optional=True, widths={2: 4}) == [
        " #  Symbol   Regime",  # a header is never cut
        " 1  SPKUSDT  Sho…",
        "10  BBUSDT   Bal…",
    ]


def test_an_empty_table_is_its_header() -> None:
    assert table_lines(Table((Column("Band"), Column("Readings", ColumnKind.NUMBER)), ())) == [
        "Band  Readings"
    ]


def test_layout_of_each_block() -> None:
    doc = Document(
        "Title",
        (
            Paragraph("intro"),
            KeyValues((("Alerts", "on"),)),
            Heading("Section"),
            Paragraph("detail", indent=True),
            BulletList(("one", "two")),
            ChartRef("c.png", "a chart"),
            Footnote("note 1"),
            Footnote("note 2"),
        ),
        source_label="synthetic",
    )
    assert document_text(doc) == (
        "Title\nSource: synthetic\nintro\nAlerts: on\n\nSection\n  detail\n- one\n- two\n\nnote 1\nnote 2"
    )


def test_footnotes_of_a_flat_document_stay_under_its_body() -> None:
    doc = Document("Top", (Paragraph("Avg stress 16"), Footnote("Data as of 2025-01-06 12:00 UTC")))
    assert document_text(doc) == "Top\nAvg stress 16\nData as of 2025-01-06 12:00 UTC"


def test_a_message_without_a_title_is_its_body() -> None:
    assert document_text(Document("", (Paragraph("No."),))) == "No."
