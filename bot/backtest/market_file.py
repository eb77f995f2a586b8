"""Read a market file (the bundled demo market's format) into compact per-symbol columns.

Format (``docs/backtest.md``): UTF-8 CSV, gzip'd or plain (the first two bytes tell),
header first. Columns by name, in any order::

    exchange,symbol,ts,oi_contracts,oi_usd,mark_price,index_price,last_price,
    funding_rate,funding_interval_h,next_funding_time,volume_24h_usd

``exchange``, ``symbol``, ``ts``, ``oi_contracts``, ``mark_price``, ``index_price``,
``funding_rate`` and ``funding_interval_h`` must be in the header; the other columns may
be left out. A numeric cell may be empty (a missing value, which the score treats as
such); otherwise it must be a finite number, and not negative except for the funding
rate. Times are ISO 8601 with a UTC offset (``2026-11-20T12:00:00Z``); funding is a
fraction per settlement interval (``0.0001`` = 0.01 %).

Rows may come in any order and repeat: each symbol's rows are sorted by time; a repeated
(exchange, symbol, ts) keeps its first row. Both are counted (``MarketFile.unsorted`` and
``duplicates``) and reported.

Memory: every value is stored in an ``array`` of doubles (NaN = missing), times as epoch
seconds, so a row costs about 80 bytes; a million rows take about 80 MB.
"""

from __future__ import annotations

import csv
import gzip
import math
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bot.errors import InputError

NAN = float("nan")
COLUMNS = (
    "exchange",
    "symbol",
    "ts",
    "oi_contracts",
    "oi_usd",
    "mark_price",
    "index_price",
    "last_price",
    "funding_rate",
    "funding_interval_h",
    "next_funding_time",
    "volume_24h_usd",
)
REQUIRED = (
    "exchange",
    "symbol",
    "ts",
    "oi_contracts",
    "mark_price",
    "index_price",
    "funding_rate",
    "funding_interval_h",
)
NUMBERS = (
    "oi_contracts",
    "oi_usd",
    "mark_price",
    "index_price",
    "last_price",
    "funding_rate",
    "funding_interval_h",
    "volume_24h_usd",
)
"""The numeric columns, in the order of ``Series.numbers``."""
MAY_BE_NEGATIVE = frozenset({"funding_rate"})
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(slots=True)
class Series:
    """One (exchange, symbol)'s rows, sorted by time, as columns.

    Attributes:
        ts: epoch seconds, strictly increasing once the file is read.
        numbers: one array per ``NUMBERS`` entry, NaN where the cell was empty.
        next_funding: epoch seconds of the next settlement, NaN when unknown.
    """

    exchange: str
    symbol: str
    ts: array[float] = field(default_factory=lambda: array("d"))
    numbers: tuple[array[float], ...] = field(default_factory=lambda: tuple(array("d") for _ in NUMBERS))
    next_funding: array[float] = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.ts)

    def column(self, name: str) -> array[float]:
        """The numeric column ``name`` (one of ``NUMBERS``)."""
        return self.numbers[NUMBERS.index(name)]


@dataclass(slots=True)
class MarketFile:
    """A parsed market file.

    Attributes:
        source: the file name, for messages.
        series: every (exchange, symbol)'s rows, ordered by exchange then symbol.
        rows: data rows read (duplicates included).
        duplicates: rows dropped because their (exchange, symbol, ts) came earlier.
        conflicting: of those, rows whose values differed from the kept row.
        unsorted: rows whose time was before the previous row of the same symbol.
    """

    source: str
    series: list[Series]
    rows: int
    duplicates: int
    conflicting: int
    unsorted: int

    @property
    def first_ts(self) -> float | None:
        """The earliest time in the file (epoch seconds)."""
        return min((s.ts[0] for s in self.series if len(s)), default=None)

    @property
    def last_ts(self) -> float | None:
        """The latest time in the file (epoch seconds)."""
        return max((s.ts[-1] for s in self.series if len(s)), default=None)


class _Reader:
    """Cells → values, naming the line and column of the first bad cell."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._times: dict[str, float] = {}

    def fail(self, line: int, column: str | None, message: str) -> InputError:
        where = f"line {line}" + (f", column {column}" if column else "")
        return InputError(f"{self.source}: {where}: {message}")

    def time(self, text: str, line: int, column: str) -> float:
        cached = self._times.get(text)
        if cached is not None:
            return cached
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise self.fail(line, column, f"not an ISO 8601 time: {text[:40]!r}") from None
        if moment.utcoffset() is None:
            raise self.fail(line, column, f"time without a UTC offset: {text[:40]!r}")
        value = moment.astimezone(UTC).timestamp()
        self._times[text] = value
        return value

    def number(self, text: str, line: int, column: str) -> float:
        if not text:
            return NAN
        try:
            value = float(text)
        except ValueError:
            raise self.fail(line, column, f"not a number: {text[:40]!r}") from None
        if not math.isfinite(value):
            raise self.fail(line, column, f"not a finite number: {text[:40]!r}")
        if value < 0 and column not in MAY_BE_NEGATIVE:
            raise self.fail(line, column, f"must not be negative: {text[:40]!r}")
        return value


def _fast_numbers(texts: Sequence[str], signed: int) -> list[float] | None:
    """The cells as numbers (empty → NaN), or ``None`` when one needs a closer look.

    A closer look means: not a number, NaN or infinite in the text, or negative outside
    the ``signed`` position. Built from C-level calls only; it runs for every row.
    """
    try:
        values = [float(t) if t else NAN for t in texts]
    except ValueError:
        return None
    # Empty cells are the NAN object itself; a NaN written out in the text is another one.
    known = [v for v in values if v is not NAN] if "" in texts else list(values)
    if not known:
        return values
    if signed < len(values) and values[signed] is not NAN:
        known[known.index(values[signed])] = abs(values[signed])
    total = sum(known)
    if total != total or total in (math.inf, -math.inf) or min(known) < 0:
        return None
    return values


def _open_text(path: Path) -> IO[str]:
    try:
        with path.open("rb") as raw:
            packed = raw.read(2) == GZIP_MAGIC
        if packed:
            return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
        return path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot open the market file: {exc.strerror or exc}") from exc


def _rows(handle: IO[str], source: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, cells) of every non-empty CSV record, turning read errors into ``InputError``."""
    reader = csv.reader(handle, strict=True)
    line = 1
    try:
        while True:
            line = reader.line_num + 1
            cells = next(reader, None)
            if cells is None:
                return
            if cells:
                yield line, cells
    except csv.Error as exc:
        raise InputError(f"{source}: line {line}: not valid CSV: {exc}") from exc
    except (OSError, EOFError) as exc:  # a corrupt or truncated gzip stream
        raise InputError(f"{source}: unreadable after line {line}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: after line {line}: not UTF-8 text: {exc.reason}") from exc


def _header(cells: list[str], source: str) -> list[int]:
    """Position of each ``COLUMNS`` entry in the file (-1 when absent)."""
    names = [c.strip() for c in cells]
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise InputError(
            f"{source}: line 1: unknown column(s) {', '.join(unknown)}; the columns are {','.join(COLUMNS)}"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"{source}: line 1: column(s) named twice: {', '.join(repeated)}")
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise InputError(f"{source}: line 1: missing required column(s): {', '.join(missing)}")
    return [names.index(c) if c in names else -1 for c in COLUMNS]


def _sorted_unique(series: Series) -> tuple[int, int]:
    """Sort one series by time, keeping the first of repeated times; (duplicates, conflicting)."""
    ts = series.ts
    n = len(ts)
    if all(ts[k] < ts[k + 1] for k in range(n - 1)):
        return 0, 0
    order = sorted(range(n), key=ts.__getitem__)  # stable: the first row of a time comes first
    keep: list[int] = []
    duplicates = conflicting = 0
    columns = (*series.numbers, series.next_funding)

    def same(a: int, b: int) -> bool:
        return all(c[a] == c[b] or (c[a] != c[a] and c[b] != c[b]) for c in columns)

    for k in order:
        if keep and ts[keep[-1]] == ts[k]:
            duplicates += 1
            conflicting += not same(keep[-1], k)
            continue
        keep.append(k)
    series.ts = array("d", (ts[k] for k in keep))
    series.numbers = tuple(array("d", (c[k] for k in keep)) for c in series.numbers)
    series.next_funding = array("d", (series.next_funding[k] for k in keep))
    return duplicates, conflicting


def _series(key: tuple[str, str], buffer: array[float], stride: int, slots: list[int]) -> Series:
    """Split one series' flat rows (time, the numbers present, next funding) into columns."""
    n = len(buffer) // stride
    missing = array("d", [NAN]) * n
    numbers = [missing] * len(NUMBERS)
    for offset, k in enumerate(slots, start=1):
        numbers[k] = buffer[offset::stride]
    return Series(key[0], key[1], buffer[0::stride], tuple(numbers), buffer[stride - 1 :: stride])


def read_market(path: Path) -> MarketFile:
    """Read and check a market file (gzip or plain CSV).

    Raises:
        InputError: the file cannot be read, the header is wrong (a required column is
            missing, a column is unknown or repeated), the file has no rows, or a cell is
            malformed; the message names the file, the line and the column.
    """
    source = str(path)
    cells_of = _Reader(source)
    # While reading, each series' rows go into one flat array (time, the numbers present,
    # next funding: one extend per row); split into columns at the end.
    flat: dict[tuple[str, str], array[float]] = {}
    rows = unsorted = 0
    with _open_text(path) as handle:
        records = _rows(handle, source)
        first = next(records, None)
        if first is None:
            raise InputError(f"{source}: the file is empty (expected a header: {','.join(COLUMNS)})")
        pos = _header(first[1], source)
        width = len(first[1])
        p_exchange, p_symbol, p_ts = pos[0], pos[1], pos[2]
        present = [(k, pos[COLUMNS.index(n)], n) for k, n in enumerate(NUMBERS) if pos[COLUMNS.index(n)] >= 0]
        take = operator.itemgetter(*(p for _, p, _ in present))
        names = [n for _, _, n in present]
        signed = names.index("funding_rate")
        stride = len(present) + 2
        p_next = pos[COLUMNS.index("next_funding_time")]
        number, time = cells_of.number, cells_of.time
        for line, cells in records:
            if len(cells) != width:
                raise cells_of.fail(line, None, f"expected {width} fields, found {len(cells)}")
            exchange, symbol, ts_text = cells[p_exchange].strip(), cells[p_symbol].strip(), cells[p_ts]
            if not exchange:
                raise cells_of.fail(line, "exchange", "empty")
            if not symbol:
                raise cells_of.fail(line, "symbol", "empty")
            if not ts_text:
                raise cells_of.fail(line, "ts", "empty")
            ts = time(ts_text, line, "ts")
            texts = take(cells)
            values = _fast_numbers(texts, signed)
            if values is None:  # something odd: check cell by cell, naming the bad one
                values = [number(t, line, n) for t, n in zip(texts, names, strict=True)]
            nft = cells[p_next] if p_next >= 0 else ""
            buffer = flat.get((exchange, symbol))
            if buffer is None:
                buffer = flat[(exchange, symbol)] = array("d")
            elif ts < buffer[-stride]:
                unsorted += 1
            buffer.append(ts)
            buffer.extend(values)
            buffer.append(time(nft, line, "next_funding_time") if nft else NAN)
            rows += 1
    slots = [k for k, _, _ in present]
    by_key: dict[tuple[str, str], Series] = {}
    while flat:  # one buffer at a time, freed as it goes: the peak stays near the file's size
        key, buffer = flat.popitem()
        by_key[key] = _series(key, buffer, stride, slots)
        del buffer
    if not rows:
        raise InputError(f"{source}: no data rows after the header")
    duplicates = conflicting = 0
    ordered = [by_key[k] for k in sorted(by_key)]
    for series in ordered:
        d, c = _sorted_unique(series)
        duplicates += d
        conflicting += c
    return MarketFile(source, ordered, rows, duplicates, conflicting, unsorted)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def write_market(path: Path, rows: Iterable[Sequence[object]], columns: Sequence[str] = COLUMNS) -> int:
    """Write rows in the market format (gzip'd when ``path`` ends in ``.gz``); returns rows written.

    Cells: ``None`` or NaN → empty, ``datetime`` → ISO 8601 UTC, anything else ``str()``.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    count = 0
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        for row in rows:
            handle.write(",".join(map(_cell, row)) + "\n")
            count += 1
    return count
