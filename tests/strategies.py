"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from bot.core.document import (
    Block,
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
    Tone,
)
from bot.core.models import ScoreInputs

# Realistic ranges in percent; the scoring core must also survive the junk below.
oi_change = st.floats(min_value=-90.0, max_value=500.0, allow_nan=False)
funding = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)
basis = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)
interval = st.sampled_from([1.0, 2.0, 4.0, 8.0])

junk_float = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(float("-inf")),
    st.floats(allow_nan=True, allow_infinity=True),
)


def maybe(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    """A value from ``strategy`` or missing."""
    return st.one_of(st.none(), strategy)


complete_inputs = st.builds(
    ScoreInputs,
    oi_1h_pct=oi_change,
    oi_4h_pct=oi_change,
    oi_24h_pct=oi_change,
    funding_pct=funding,
    funding_interval_h=interval,
    basis_pct=basis,
)

any_inputs = st.builds(
    ScoreInputs,
    oi_1h_pct=st.one_of(maybe(oi_change), junk_float),
    oi_4h_pct=st.one_of(maybe(oi_change), junk_float),
    oi_24h_pct=st.one_of(maybe(oi_change), junk_float),
    funding_pct=st.one_of(maybe(funding), junk_float),
    funding_interval_h=st.one_of(maybe(interval), junk_float, st.just(0.0), st.just(-8.0)),
    basis_pct=st.one_of(maybe(basis), junk_float),
)


# --- message documents ------------------------------------------------------------------

MARKUP_LOOKALIKES = (
    "<b>",
    "</i>",
    "&amp;",
    "**x**",
    "__u__",
    "`code`",
    "```",
    "||spoiler||",
    "@everyone",
    "@here",
    "<@123>",
    "[link](https://example.invalid)",
    "# heading",
    "> quote",
    "- item",
    "🚀",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "\u200b",
    "…",
)
"""Text a platform could mistake for its own markup, and astral characters (two UTF-16 units)."""

# Any text a store can hold: no lone surrogates (not UTF-8) and no NUL (PostgreSQL refuses it).
_characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
document_text_values = st.lists(
    st.one_of(st.text(_characters, max_size=30), st.sampled_from(MARKUP_LOOKALIKES)), max_size=4
).map("".join)
"""Text for any place in a document: unicode, astral characters and markup look-alikes."""


HOSTILE = (
    *MARKUP_LOOKALIKES,
    "</pre>",
    "<pre>",
    "&",
    "~~s~~",
    "<#456>",
    "# ",
    "- ",
    "1. ",
    "> ",
    "\\",
    "\n",
    "  ",
)
"""Pieces of market or user text that would be markup if a renderer let them through."""

_hostile_piece = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))


def _hostile(max_pieces: int) -> st.SearchStrategy[str]:
    return st.lists(_hostile_piece, max_size=max_pieces).map("".join)


def hostile_texts(max_pieces: int = 12) -> st.SearchStrategy[str]:
    """Text for one field of a message: usually short and hostile, sometimes thousands of
    characters (the worst cases for escaping: every character grows, ``&`` → ``&amp;``)."""
    return st.one_of(
        _hostile(max_pieces),
        _hostile(max_pieces).map(lambda t: t * 300),
        st.text(min_size=1, max_size=3).map(lambda t: t * 2500),
        st.sampled_from(["&", "<", "*", "`", "_", "😀", "@everyone "]).map(lambda t: t * 5000),
    )


def _tables(
    header: st.SearchStrategy[str], cell: st.SearchStrategy[str], max_columns: int, max_rows: int
) -> st.SearchStrategy[Table]:
    @st.composite
    def build(draw: st.DrawFn) -> Table:
        width = draw(st.integers(1, max_columns))
        columns = tuple(
            Column(
                draw(header),
                draw(st.sampled_from(ColumnKind)),
                draw(st.one_of(st.none(), st.integers(2, 40))),
            )
            for _ in range(width)
        )
        rows = draw(st.lists(st.tuples(*[cell] * width), max_size=max_rows))
        optional = draw(st.lists(st.integers(0, width - 1), unique=True, max_size=width))
        return Table(columns, tuple(rows), tuple(optional))

    return build()


def _documents(
    text: st.SearchStrategy[str],
    short: st.SearchStrategy[str],
    table: st.SearchStrategy[Table],
    *,
    max_items: int,
    max_blocks: int,
) -> st.SearchStrategy[Document]:
    block: st.SearchStrategy[Block] = st.one_of(
        st.builds(Heading, text),
        st.builds(Paragraph, text, st.booleans(), st.booleans()),
        st.builds(BulletList, st.lists(text, max_size=max_items).map(tuple)),
        st.builds(KeyValues, st.lists(st.tuples(text, text), max_size=max_items).map(tuple)),
        table,
        st.builds(ChartRef, short, short),
        st.builds(Footnote, text),
    )
    return st.builds(
        Document,
        title=text,
        blocks=st.lists(block, max_size=max_blocks).map(tuple),
        tone=st.sampled_from(Tone),
        source_label=st.one_of(st.none(), short),
    )


documents = _documents(
    document_text_values,
    document_text_values,
    _tables(document_text_values, document_text_values, max_columns=6, max_rows=8),
    max_items=5,
    max_blocks=8,
)
"""Any message document a store can hold: every block type and tone, unicode and markup look-alikes."""

hostile_documents = _documents(
    hostile_texts(),
    _hostile(6),
    _tables(_hostile(6), st.one_of(_hostile(6), hostile_texts(4)), max_columns=9, max_rows=80),
    max_items=20,
    max_blocks=12,
)
"""Any document with hostile and over-long text anywhere: for the platforms' limits."""
