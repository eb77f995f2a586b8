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
import itertools
import math
import operator
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bot.backtest.utc_text import utc_text
from bot.core.market import MARKET_COLUMNS, MARKET_NUMBER_COLUMNS
from bot.errors import InputError

NAN = float("nan")
COLUMNS = MARKET_COLUMNS
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
NUMBERS = MARKET_NUMBER_COLUMNS
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
        self.times: dict[str, float] = {}

    def fail(self, line: int, column: str | None, message: str) -> InputError:
        where = f"line {line}" + (f", column {column}" if column else "")
        return InputError(f"{self.source}: {where}: {message}")

    def time(self, text: str, line: int, column: str) -> float:
        cached = self.times.get(text)
        if cached is not None:
            return cached
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise self.fail(line, column, f"not an ISO 8601 time: {text[:40]!r}") from None
        if moment.utcoffset() is None:
            raise self.fail(line, column, f"time without a UTC offset: {text[:40]!r}")
        value = moment.astimezone(UTC).timestamp()
        self.times[text] = value
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


CHUNK_LINES = 20_000
"""Lines converted column by column at once; a chunk with anything odd goes row by row."""


class _QuotedError(Exception):
    """Internal: the file quotes a cell; it is read again with the csv module."""


class _Builder:
    """Rows → per-series columns, by whole chunks (fast) or row by row (checks every cell)."""

    def __init__(self, source: str, header: list[str]) -> None:
        self.reader = _Reader(source)
        pos = _header(header, source)
        self.width = len(header)
        self.p_exchange, self.p_symbol, self.p_ts = pos[0], pos[1], pos[2]
        self.present = [
            (k, pos[COLUMNS.index(n)], n) for k, n in enumerate(NUMBERS) if pos[COLUMNS.index(n)] >= 0
        ]
        self.absent = [k for k, n in enumerate(NUMBERS) if pos[COLUMNS.index(n)] < 0]
        self.p_next = pos[COLUMNS.index("next_funding_time")]
        self.by_key: dict[tuple[str, str], Series] = {}
        self.rows = self.unsorted = 0

    def _series(self, key: tuple[str, str]) -> Series:
        series = self.by_key.get(key)
        if series is None:
            series = self.by_key[key] = Series(key[0], key[1])
        return series

    def row(self, line: int, cells: list[str]) -> None:
        """One row, every cell checked; raises ``InputError`` naming the line and column."""
        fail, number, time = self.reader.fail, self.reader.number, self.reader.time
        if len(cells) != self.width:
            raise fail(line, None, f"expected {self.width} fields, found {len(cells)}")
        exchange, symbol, ts_text = (
            cells[self.p_exchange].strip(),
            cells[self.p_symbol].strip(),
            cells[self.p_ts],
        )
        for name, value in (("exchange", exchange), ("symbol", symbol), ("ts", ts_text)):
            if not value:
                raise fail(line, name, "empty")
        ts = time(ts_text, line, "ts")
        values = [(k, number(cells[p], line, name)) for k, p, name in self.present]
        nft = cells[self.p_next] if self.p_next >= 0 else ""
        next_funding = time(nft, line, "next_funding_time") if nft else NAN
        series = self._series((exchange, symbol))
        if series.ts and ts < series.ts[-1]:
            self.unsorted += 1
        series.ts.append(ts)
        for k, v in values:
            series.numbers[k].append(v)
        for k in self.absent:
            series.numbers[k].append(NAN)
        series.next_funding.append(next_funding)
        self.rows += 1

    def _times(self, cells: Sequence[str], optional: bool) -> list[float] | None:
        """Epoch seconds of a column of time cells (empty → NaN when ``optional``), or ``None``."""
        cache = self.reader.times
        for text in set(cells) - cache.keys():
            if not text and optional:
                continue
            try:
                self.reader.time(text, 0, "")
            except InputError:
                return None
        if optional and "" in cells:
            return [cache[c] if c else NAN for c in cells]
        return list(map(cache.__getitem__, cells))

    def _numbers(self, cells: Sequence[str], signed: bool) -> list[float] | None:
        """A column of numbers (empty → NaN), or ``None`` when a cell needs the row-by-row check."""
        try:
            values = [float(c) if c else NAN for c in cells] if "" in cells else list(map(float, cells))
        except ValueError:
            return None
        known = [v for v in values if v is not NAN] if "" in cells else values
        if known:
            total = sum(known)  # NaN or ±inf anywhere makes the sum so
            if total != total or total in (math.inf, -math.inf) or (not signed and min(known) < 0):
                return None
        return values

    def chunk(self, first_line: int, lines: list[str]) -> None:
        """Add a chunk of lines (``first_line`` is the first one's number)."""
        texts = [line.rstrip("\r\n") for line in lines]
        if any('"' in t for t in texts):
            raise _QuotedError
        rows = [t.split(",") for t in texts]
        if not self._chunk(rows):
            for offset, cells in enumerate(rows):
                if cells != [""]:  # a blank line, as the csv module skips it
                    self.row(first_line + offset, cells)

    def _chunk(self, rows: list[list[str]]) -> bool:
        """All rows at once, column by column; ``False`` (nothing added) at the first doubt."""
        if set(map(len, rows)) != {self.width}:
            return False
        cols = list(zip(*rows, strict=True))
        exchanges, symbols = cols[self.p_exchange], cols[self.p_symbol]
        names = set(exchanges) | set(symbols)
        if "" in names or any(n != n.strip() for n in names) or "" in cols[self.p_ts]:
            return False
        ts = self._times(cols[self.p_ts], optional=False)
        nft = self._times(cols[self.p_next], optional=True) if self.p_next >= 0 else None
        if ts is None or (self.p_next >= 0 and nft is None):
            return False
        numbers = []
        for k, p, name in self.present:
            values = self._numbers(cols[p], signed=name in MAY_BE_NEGATIVE)
            if values is None:
                return False
            numbers.append((k, values))
        groups: dict[tuple[str, str], list[int]] = {}
        for i, key in enumerate(zip(exchanges, symbols, strict=True)):
            groups.setdefault(key, []).append(i)
        for key, ids in groups.items():
            pick = operator.itemgetter(*ids) if len(ids) > 1 else (lambda seq, i=ids[0]: (seq[i],))
            series = self._series(key)
            times = pick(ts)
            if series.ts and times[0] < series.ts[-1]:
                self.unsorted += 1
            self.unsorted += sum(map(operator.lt, times[1:], times[:-1]))
            series.ts.extend(times)
            for k, values in numbers:
                series.numbers[k].extend(pick(values))
            for k in self.absent:
                series.numbers[k].extend([NAN] * len(ids))
            series.next_funding.extend(pick(nft) if nft is not None else [NAN] * len(ids))
        self.rows += len(rows)
        return True

    def finish(self) -> MarketFile:
        """Sort and de-duplicate every series; the file as read."""
        if not self.rows:
            raise InputError(f"{self.reader.source}: no data rows after the header")
        duplicates = conflicting = 0
        ordered = [self.by_key[k] for k in sorted(self.by_key)]
        for series in ordered:
            d, c = _sorted_unique(series)
            duplicates += d
            conflicting += c
        return MarketFile(self.reader.source, ordered, self.rows, duplicates, conflicting, self.unsorted)


def _empty(source: str) -> InputError:
    return InputError(f"{source}: the file is empty (expected a header: {','.join(COLUMNS)})")


def _read_chunks(path: Path, source: str) -> MarketFile:
    """The fast way: plain lines, split on commas, converted a chunk at a time."""
    line = 0
    try:
        with _open_text(path) as handle:
            header: list[str] | None = None
            for text in handle:  # the header: the first line that is not blank
                line += 1
                if text.strip("\r\n"):
                    if '"' in text:
                        raise _QuotedError
                    header = text.rstrip("\r\n").split(",")
                    break
            if header is None:
                raise _empty(source)
            builder = _Builder(source, header)
            while lines := list(itertools.islice(handle, CHUNK_LINES)):
                builder.chunk(line + 1, lines)
                line += len(lines)
    except (OSError, EOFError) as exc:  # a corrupt or truncated gzip stream
        raise InputError(f"{source}: unreadable after line {line}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: after line {line}: not UTF-8 text: {exc.reason}") from exc
    return builder.finish()


def _read_csv(path: Path, source: str) -> MarketFile:
    """The careful way, for files that quote cells: the csv module, row by row."""
    with _open_text(path) as handle:
        records = _rows(handle, source)
        first = next(records, None)
        if first is None:
            raise _empty(source)
        builder = _Builder(source, first[1])
        for line, cells in records:
            builder.row(line, cells)
    return builder.finish()


def read_market(path: Path) -> MarketFile:
    """Read and check a market file (gzip or plain CSV).

    Raises:
        InputError: the file cannot be read, the header is wrong (a required column is
            missing, a column is unknown or repeated), the file has no rows, or a cell is
            malformed; the message names the file, the line and the column.
    """
    source = str(path)
    try:
        return _read_chunks(path, source)
    except _QuotedError:
        return _read_csv(path, source)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, datetime):
        return utc_text(value)
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
