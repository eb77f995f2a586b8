"""The message document's stored form: any document reads back as itself; anything else is refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given

from bot.core.document import (
    VERSION,
    ChartRef,
    Column,
    ColumnKind,
    Document,
    DocumentError,
    Paragraph,
    Table,
    from_json,
    to_data,
    to_json,
)
from tests.strategies import documents


@given(documents)
def test_any_document_round_trips_through_json(doc: Document) -> None:
    assert from_json(to_json(doc)) == doc


@given(documents)
def test_the_stored_form_names_its_version(doc: Document) -> None:
    assert json.loads(to_json(doc))["version"] == VERSION


def _data(**changes: object) -> str:
    data = to_data(Document("t", (Paragraph("p"),)))
    data.update(changes)
    return json.dumps(data)


def _block(block: dict[str, object]) -> str:
    return _data(blocks=[block])


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Derivatives Pressure alerts\nSUIUSDT stretched → stressed", "not a document"),
        ("", "not a document"),
        ("[" * 100_000, "not a document"),
        ("[]", "JSON object"),
        (_data(version=2), "version 2"),
        (_data(version=None), "version None"),
        (_data(version="1"), "version '1'"),
        (_data(tone="pink"), "malformed"),
        (_data(title=None), "expected text"),
        (_data(blocks="abc"), "expected a list"),
        (_data(blocks=[{"type": "video", "url": "x"}]), "unknown block type 'video'"),
        (_data(blocks=[["paragraph", "p"]]), "JSON object"),
        (_block({"type": "paragraph", "text": 5}), "expected text"),
        (_block({"type": "paragraph", "text": "p", "strong": "no"}), "true or false"),
        (_block({"type": "list", "items": "abc"}), "expected a list"),
        (_block({"type": "key_values", "items": [["a", "b", "c"]]}), "pair"),
        (
            _block({"type": "table", "columns": [{"name": "a", "kind": "text"}], "rows": [["1", "2"]]}),
            "cells",
        ),
        (_block({"type": "table", "columns": [{"name": "a", "kind": "money"}], "rows": []}), "malformed"),
        (
            _block({"type": "table", "columns": [{"name": "a", "kind": "text", "max_width": 1}], "rows": []}),
            "max_width",
        ),
        (
            _block(
                {"type": "table", "columns": [{"name": "a", "kind": "text"}], "rows": [], "optional": [3]}
            ),
            "optional",
        ),
        (
            _block(
                {"type": "table", "columns": [{"name": "a", "kind": "text"}], "rows": [], "optional": ["0"]}
            ),
            "column index",
        ),
        (_block({"type": "chart", "filename": "a.png"}), "malformed"),
        (_data(blocks=None), "expected a list"),
    ],
)
def test_what_is_not_a_document_of_this_version_is_refused(text: str, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        from_json(text)


def test_a_table_must_be_as_wide_as_its_columns() -> None:
    with pytest.raises(ValueError, match="2 cells for 1 columns"):
        Table((Column("a"),), (("1", "2"),))
    with pytest.raises(ValueError, match="optional names column 1"):
        Table((Column("a"),), (), optional=(1,))
    with pytest.raises(ValueError, match="at least 2"):
        Column("a", ColumnKind.TEXT, max_width=1)


def test_the_chart_is_the_first_chart_block() -> None:
    assert Document("t").chart is None
    doc = Document("t", (Paragraph("p"), ChartRef("a.png", "A"), ChartRef("b.png", "B")))
    assert doc.chart == ChartRef("a.png", "A")
