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


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """A table with 1 to 6 typed columns and rows as wide as its columns."""
    width = draw(st.integers(1, 6))
    columns = tuple(
        Column(
            draw(document_text_values),
            draw(st.sampled_from(ColumnKind)),
            draw(st.one_of(st.none(), st.integers(2, 40))),
        )
        for _ in range(width)
    )
    rows = draw(st.lists(st.tuples(*[document_text_values] * width), max_size=8))
    optional = draw(st.lists(st.integers(0, width - 1), unique=True, max_size=width))
    return Table(columns, tuple(rows), tuple(optional))


blocks: st.SearchStrategy[Block] = st.one_of(
    st.builds(Heading, document_text_values),
    st.builds(Paragraph, document_text_values, st.booleans(), st.booleans()),
    st.builds(BulletList, st.lists(document_text_values, max_size=5).map(tuple)),
    st.builds(
        KeyValues, st.lists(st.tuples(document_text_values, document_text_values), max_size=5).map(tuple)
    ),
    tables(),
    st.builds(ChartRef, document_text_values, document_text_values),
    st.builds(Footnote, document_text_values),
)
"""One block of any kind."""

documents = st.builds(
    Document,
    title=document_text_values,
    blocks=st.lists(blocks, max_size=8).map(tuple),
    tone=st.sampled_from(Tone),
    source_label=st.one_of(st.none(), document_text_values),
)
"""Any message document."""
