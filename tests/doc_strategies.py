"""Hypothesis strategies for message documents (``bot.core.document``).

Any document the types allow, with text that tries to break every platform's markup:
HTML tags and entities, Markdown emphasis and code fences, mentions, list and heading
marks at line starts, emoji that count twice in UTF-16, and the occasional very long text.
"""

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

HOSTILE = (
    "<b>",
    "</pre>",
    "<pre>",
    "&amp;",
    "&",
    "**x**",
    "__u__",
    "~~s~~",
    "||spoiler||",
    "`",
    "```",
    "@everyone",
    "@here",
    "<@123>",
    "<#456>",
    "[link](https://example.invalid)",
    "# ",
    "- ",
    "1. ",
    "> ",
    "\\",
    "😀",
    "\n",
    "  ",
)
"""Pieces of market or user text that would be markup if a renderer let them through."""

_piece = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12))


@st.composite
def _hostile_text(draw: st.DrawFn, max_pieces: int) -> str:
    return "".join(draw(st.lists(_piece, max_size=max_pieces)))


def texts(max_pieces: int = 12) -> st.SearchStrategy[str]:
    """Text for one field: usually short and hostile, sometimes thousands of characters."""
    return st.one_of(
        _hostile_text(max_pieces),
        _hostile_text(max_pieces).map(lambda t: t * 300),
        st.text(min_size=1, max_size=3).map(lambda t: t * 2500),
        # The worst cases for escaping: every character grows (``&`` → ``&amp;``, ``*`` → ``\*``).
        st.sampled_from(["&", "<", "*", "`", "_", "😀", "@everyone "]).map(lambda t: t * 5000),
    )


short_texts = _hostile_text(6)


@st.composite
def tables(draw: st.DrawFn) -> Table:
    """A table of 1–9 typed columns and 0–80 rows, some columns optional or width-capped."""
    count = draw(st.integers(1, 9))
    columns = tuple(
        Column(
            draw(short_texts),
            draw(st.sampled_from(list(ColumnKind))),
            draw(st.one_of(st.none(), st.integers(2, 40))),
        )
        for _ in range(count)
    )
    cell = st.one_of(short_texts, texts(4))
    rows = draw(st.lists(st.tuples(*(cell for _ in range(count))), max_size=80))
    optional = draw(st.lists(st.integers(0, count - 1), max_size=count, unique=True))
    return Table(columns, tuple(rows), tuple(optional))


blocks: st.SearchStrategy[Block] = st.one_of(
    st.builds(Heading, texts()),
    st.builds(Paragraph, texts(), st.booleans(), st.booleans()),
    st.builds(BulletList, st.lists(texts(6), max_size=20).map(tuple)),
    st.builds(KeyValues, st.lists(st.tuples(texts(4), texts(8)), max_size=12).map(tuple)),
    tables(),
    st.builds(ChartRef, short_texts, short_texts),
    st.builds(Footnote, texts()),
)

documents: st.SearchStrategy[Document] = st.builds(
    Document,
    title=texts(),
    blocks=st.lists(blocks, max_size=12).map(tuple),
    tone=st.sampled_from(list(Tone)),
    source_label=st.one_of(st.none(), short_texts),
)
"""Any document: every block type, every tone, hostile and over-long text anywhere."""
