"""The message document: what every reply, alert and digest is before a platform draws it.

A document is a title, a tone and a sequence of typed blocks. The outbox stores it as
versioned JSON; each platform's renderer (console text, Telegram HTML, Discord embeds,
and later webhook JSON and web HTML) draws the blocks its own way. No renderer parses
text: a table is a ``Table`` block with typed columns, never aligned lines to be guessed
back, so rewording a line cannot change how it is laid out.

Text in a document is plain: renderers escape it for their platform. Emphasis is a
property of a block (``Paragraph.strong``), never markup inside the text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, assert_never

VERSION = 1
"""The document format's version, stored with every document.

Bump it when a stored document would read differently; ``from_json`` refuses versions
it does not know rather than guessing.
"""


class Tone(StrEnum):
    """How a document should look at a glance (a Discord embed's colour, a web badge)."""

    INFO = "info"
    NEUTRAL = "neutral"
    LEAN = "lean"
    STRETCHED = "stretched"
    STRESSED = "stressed"
    ERROR = "error"


class ColumnKind(StrEnum):
    """What a table column holds: renderers align numbers right and text left."""

    TEXT = "text"
    NUMBER = "number"
    PERCENT = "percent"


@dataclass(frozen=True, slots=True)
class Heading:
    """A section heading inside the document (the document's own title is ``Document.title``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Paragraph:
    """One line or paragraph of plain text; ``strong`` draws it bold where the platform can.

    ``indent`` marks a line that belongs to the entry above it (an alert's detail lines).
    """

    text: str
    strong: bool = False
    indent: bool = False


@dataclass(frozen=True, slots=True)
class BulletList:
    """Items shown as a list (the commands in ``/help``)."""

    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class KeyValues:
    """Labelled values shown as a small form (a score card, ``/status``, settings)."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: its header and what kind of value it holds."""

    name: str
    kind: ColumnKind = ColumnKind.TEXT
    max_width: int | None = None
    """Longer cells are cut to this many characters (with ``…``) where width is scarce."""

    def __post_init__(self) -> None:
        if self.max_width is not None and self.max_width < 2:
            raise ValueError(f"Column.max_width must be at least 2, got {self.max_width}")


@dataclass(frozen=True, slots=True)
class Table:
    """Rows under typed columns; each cell is already formatted text (``+1.25%``, ``97*``).

    Renderers that have room show every column; narrow ones (a phone) may leave out the
    columns listed in ``optional``, by index.
    """

    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    optional: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        width = len(self.columns)
        for k, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"Table row {k} has {len(row)} cells for {width} columns")
        for index in self.optional:
            if not 0 <= index < width:
                raise ValueError(f"Table.optional names column {index}, which does not exist")


@dataclass(frozen=True, slots=True)
class ChartRef:
    """A chart sent with the document; its PNG travels beside it (the outbox attachment).

    Attributes:
        filename: the file name to attach it under (letters, digits and ``._-``).
        caption: what the chart shows.
    """

    filename: str
    caption: str


@dataclass(frozen=True, slots=True)
class Footnote:
    """A small note under everything else (data time, partial-score mark, source)."""

    text: str


Block = Heading | Paragraph | BulletList | KeyValues | Table | ChartRef | Footnote


@dataclass(frozen=True, slots=True)
class Document:
    """One message: a title, a tone and blocks, in order.

    Attributes:
        title: the headline (a Discord embed title, the bold first line elsewhere); empty
            for a message that is only its body (a refusal).
        blocks: the body.
        tone: the look (colour) of the whole message.
        source_label: shown with the message whenever it is set (the synthetic demo
            market), so nobody mistakes it for a live market.
    """

    title: str
    blocks: tuple[Block, ...] = ()
    tone: Tone = Tone.INFO
    source_label: str | None = None

    @property
    def chart(self) -> ChartRef | None:
        """The chart this document shows, if any (the first ``ChartRef`` block)."""
        return next((b for b in self.blocks if isinstance(b, ChartRef)), None)


# --- JSON ------------------------------------------------------------------------------


def to_data(doc: Document) -> dict[str, Any]:
    """The document as plain JSON-ready data, with the format version."""
    return {
        "version": VERSION,
        "title": doc.title,
        "tone": doc.tone.value,
        "source_label": doc.source_label,
        "blocks": [_block_data(b) for b in doc.blocks],
    }


def to_json(doc: Document) -> str:
    """The document as compact JSON text (what the outbox stores)."""
    return json.dumps(to_data(doc), ensure_ascii=False, separators=(",", ":"))


def _block_data(block: Block) -> dict[str, Any]:
    match block:
        case Heading():
            return {"type": "heading", "text": block.text}
        case Paragraph():
            return {"type": "paragraph", "text": block.text, "strong": block.strong, "indent": block.indent}
        case BulletList():
            return {"type": "list", "items": list(block.items)}
        case KeyValues():
            return {"type": "key_values", "items": [[k, v] for k, v in block.items]}
        case Table():
            return {
                "type": "table",
                "columns": [
                    {"name": c.name, "kind": c.kind.value, "max_width": c.max_width} for c in block.columns
                ],
                "rows": [list(r) for r in block.rows],
                "optional": list(block.optional),
            }
        case ChartRef():
            return {"type": "chart", "filename": block.filename, "caption": block.caption}
        case Footnote():
            return {"type": "footnote", "text": block.text}
        case _:
            assert_never(block)


class DocumentError(ValueError):
    """Stored text is not a document this version can read."""


def from_json(text: str) -> Document:
    """Read a stored document back.

    Raises:
        DocumentError: not JSON, an unknown version, or a block that does not parse.
    """
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DocumentError(f"not a document: {exc}") from exc
    return from_data(data)


def from_data(data: Any) -> Document:
    """A document from ``to_data``'s form (see ``from_json``)."""
    try:
        if not isinstance(data, dict):
            raise DocumentError("a document is a JSON object")
        version = data.get("version")
        if version != VERSION:
            raise DocumentError(f"document version {version!r} is not {VERSION}")
        label = data.get("source_label")
        return Document(
            title=_text(data["title"]),
            blocks=tuple(_block(b) for b in _list(data["blocks"])),
            tone=Tone(data["tone"]),
            source_label=None if label is None else _text(label),
        )
    except DocumentError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise DocumentError(f"malformed document: {exc!r}") from exc


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise DocumentError(f"expected text, got {type(value).__name__}")
    return value


def _list(values: Any) -> list[Any]:
    if not isinstance(values, list):
        raise DocumentError(f"expected a list, got {type(values).__name__}")
    return values


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(_text(v) for v in _list(values))


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise DocumentError(f"expected true or false, got {value!r}")
    return value


def _index(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DocumentError(f"expected a column index, got {value!r}")
    return value


def _width(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 2:
        raise DocumentError(f"a column's max_width is a whole number of at least 2, got {value!r}")
    return value


def _block(data: Any) -> Block:
    if not isinstance(data, dict):
        raise DocumentError("a block is a JSON object")
    kind = data.get("type")
    match kind:
        case "heading":
            return Heading(_text(data["text"]))
        case "paragraph":
            return Paragraph(
                _text(data["text"]), _flag(data.get("strong", False)), _flag(data.get("indent", False))
            )
        case "list":
            return BulletList(_texts(data["items"]))
        case "key_values":
            pairs = [_texts(pair) for pair in _list(data["items"])]
            if any(len(pair) != 2 for pair in pairs):
                raise DocumentError("a key_values item is a [key, value] pair")
            return KeyValues(tuple((k, v) for k, v in pairs))
        case "table":
            columns = tuple(
                Column(_text(c["name"]), ColumnKind(c["kind"]), _width(c.get("max_width")))
                for c in _list(data["columns"])
            )
            rows = tuple(_texts(r) for r in _list(data["rows"]))
            optional = tuple(_index(i) for i in _list(data.get("optional", [])))
            return Table(columns, rows, optional)
        case "chart":
            return ChartRef(_text(data["filename"]), _text(data["caption"]))
        case "footnote":
            return Footnote(_text(data["text"]))
        case _:
            raise DocumentError(f"unknown block type {kind!r}")
