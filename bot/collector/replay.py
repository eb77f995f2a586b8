"""The replay market: recorded 5-minute snapshots played back instead of an exchange.

The bundled file (``bot/data/demo_market.csv.gz``, written by ``scripts/gen_demo_market.py``)
is **synthetic**: several days of made-up data for the seed's symbols that ends at the
seed's snapshot. Show ``SYNTHETIC_LABEL`` wherever its numbers are shown.

File format: gzip'd UTF-8 CSV, one row per (symbol, time), header = the ``MarketSnapshot``
fields in order. Times are ISO-8601 UTC (``2026-11-20T12:00:00Z``); funding is a fraction
per interval; an empty cell is a missing value. A sample row (wrapped here)::

    replay,BTCUSDT,2026-11-20T12:00:00Z,86197.79,7.9084e+09,91747,91783.7,91759.1,-7e-05,8,
    2026-11-20T16:00:00Z,1.202e+10
"""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO

from bot.core.market import MARKET_COLUMNS, MARKET_NUMBER_COLUMNS, MarketSnapshot
from bot.core.oi_deltas import OiSample
from bot.errors import SourceDataError

SYNTHETIC_LABEL = "synthetic demo market (replay)"
REPLAY_EXCHANGE = "replay"
DEMO_MARKET_PACKAGE = "bot.data"
DEMO_MARKET_FILE = "demo_market.csv.gz"
COLUMNS = MARKET_COLUMNS
_NUMBER_COLUMNS = MARKET_NUMBER_COLUMNS
_POSITION = {name: i for i, name in enumerate(COLUMNS)}
_NUMBER_POSITIONS = tuple(_POSITION[name] for name in _NUMBER_COLUMNS)
_OI = _NUMBER_COLUMNS.index("oi_contracts")
_MARK = _NUMBER_COLUMNS.index("mark_price")


@dataclass(frozen=True, slots=True)
class _Table:
    """Parsed, validated columns; snapshots are built from a row on demand.

    Building ~80,000 frozen records up front costs more than parsing the file, and a
    replay only ever looks at one time step (68 rows) at once.
    """

    exchange: Sequence[str]
    symbol: Sequence[str]
    ts: Sequence[datetime]
    numbers: Sequence[Sequence[float | None]]  # one column per _NUMBER_COLUMNS entry
    next_funding_time: Sequence[datetime | None]

    def __len__(self) -> int:
        return len(self.ts)

    def snapshot(self, i: int) -> MarketSnapshot:
        n = self.numbers
        return MarketSnapshot(
            self.exchange[i], self.symbol[i], self.ts[i],
            n[0][i], n[1][i], n[2][i], n[3][i], n[4][i], n[5][i], n[6][i],
            self.next_funding_time[i], n[7][i],
        )  # fmt: skip

    @classmethod
    def of(cls, snapshots: Sequence[MarketSnapshot]) -> _Table:
        return cls(
            exchange=[s.exchange for s in snapshots],
            symbol=[s.symbol for s in snapshots],
            ts=[s.ts for s in snapshots],
            numbers=[[getattr(s, name) for s in snapshots] for name in _NUMBER_COLUMNS],
            next_funding_time=[s.next_funding_time for s in snapshots],
        )


class _FastPathError(Exception):
    """Internal: the fast path met something odd; the slow path finds and names it."""


class _Parser:
    """Cells → columns, two ways.

    The fast path converts whole columns at once; on anything odd it gives up and the
    slow path walks the rows one by one to name the first bad line and column.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._times: dict[str, datetime] = {}

    def fail(self, line: int, message: str) -> SourceDataError:
        return SourceDataError(f"{self.source}: line {line}: {message}")

    def time(self, text: str, line: int, column: str) -> datetime:
        cached = self._times.get(text)
        if cached is not None:
            return cached
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(line, f"{column}: not an ISO-8601 time: {text[:40]!r}") from None
        if moment.utcoffset() is None:
            raise self.fail(line, f"{column}: time without a UTC offset: {text[:40]!r}")
        moment = moment.astimezone(UTC)
        self._times[text] = moment
        return moment

    def number(self, text: str, line: int, column: str) -> float | None:
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise self.fail(line, f"{column}: not a number: {text[:40]!r}") from None
        if not math.isfinite(value):
            raise self.fail(line, f"{column}: not a finite number: {text[:40]!r}")
        return value

    def row(self, cells: list[str], line: int) -> MarketSnapshot:
        """One row, checked cell by cell."""
        exchange, symbol, ts, *_, nft, _ = cells
        if not exchange or not symbol:
            raise self.fail(line, "empty exchange or symbol")
        if not ts:
            raise self.fail(line, "ts: missing time")
        n = [self.number(cells[j], line, COLUMNS[j]) for j in _NUMBER_POSITIONS]
        return MarketSnapshot(
            exchange, symbol, self.time(ts, line, "ts"),
            n[0], n[1], n[2], n[3], n[4], n[5], n[6],
            self.time(nft, line, "next_funding_time") if nft else None, n[7],
        )  # fmt: skip

    def slow(self, text: str) -> _Table:
        """Row by row, naming the line where the first bad row starts."""
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        seen: set[tuple[str, str, datetime]] = set()
        out = []
        line = 1
        try:
            self.header(next(reader, None))
            while True:
                line = reader.line_num + 1  # a quoted cell may span lines: report the first
                cells = next(reader, None)
                if cells is None:
                    break
                if not cells:
                    continue
                if len(cells) != len(COLUMNS):
                    raise self.fail(line, f"expected {len(COLUMNS)} fields, found {len(cells)}")
                snap = self.row(cells, line)
                key = (snap.exchange, snap.symbol, snap.ts)
                if key in seen:
                    raise self.fail(line, f"{snap.symbol} at {snap.ts.isoformat()} appears twice")
                seen.add(key)
                out.append(snap)
        except csv.Error as exc:
            raise self.fail(line, f"not valid CSV: {exc}") from exc
        return _Table.of(out)

    def header(self, cells: list[str] | None) -> None:
        if cells is None or tuple(h.strip() for h in cells) != COLUMNS:
            raise self.fail(1, f"header must be {','.join(COLUMNS)}")

    def _times_of(self, column: tuple[str, ...], optional: bool) -> list[datetime | None]:
        distinct = set(column)
        if "" in distinct and not optional:
            raise _FastPathError
        try:
            lookup: dict[str, datetime | None] = {t: self.time(t, 0, "") for t in distinct if t}
        except SourceDataError:
            raise _FastPathError from None
        lookup[""] = None
        return list(map(lookup.__getitem__, column))

    @staticmethod
    def _numbers(column: tuple[str, ...]) -> list[float | None]:
        try:
            values: list[float | None] = (
                [float(c) if c else None for c in column] if "" in column else list(map(float, column))
            )
        except ValueError:
            raise _FastPathError from None
        if not all(map(math.isfinite, [v for v in values if v is not None])):
            raise _FastPathError
        return values

    def fast(self, text: str) -> _Table:
        """All rows at once, column by column; raises ``_FastPathError`` at the first doubt."""
        # The writer never quotes (no cell holds a comma), so plain splitting is the csv
        # reading of this text; any quote sends the file to the csv module instead.
        if '"' in text:
            raise _FastPathError
        lines = text.splitlines()
        self.header(lines[0].split(",") if lines else None)
        body = [line.split(",") for line in lines[1:] if line]
        if not body:
            return _Table.of([])
        if any(n != len(COLUMNS) for n in set(map(len, body))):
            raise _FastPathError
        cols = list(zip(*body, strict=True))
        exchanges, symbols, ts_text = (cols[_POSITION[c]] for c in ("exchange", "symbol", "ts"))
        if "" in exchanges or "" in symbols:
            raise _FastPathError
        ts = self._times_of(ts_text, optional=False)
        # Repeats are caught on the text; two spellings of one instant go the slow way.
        if len(set(map(",".join, zip(exchanges, symbols, ts_text, strict=True)))) != len(body):
            raise _FastPathError
        if len(set(self._times.values())) != len(self._times):
            raise _FastPathError
        return _Table(
            exchange=exchanges,
            symbol=symbols,
            ts=[t for t in ts if t is not None],
            numbers=[self._numbers(cols[j]) for j in _NUMBER_POSITIONS],
            next_funding_time=self._times_of(cols[_POSITION["next_funding_time"]], optional=True),
        )


def _parse_table(text: str, source: str) -> _Table:
    parser = _Parser(source)
    try:
        return parser.fast(text)
    except _FastPathError:
        return _Parser(source).slow(text)


def parse_snapshots(text: str, source: str = "<replay>") -> list[MarketSnapshot]:
    """Parse replay CSV text into snapshots, in file order.

    Args:
        text: the decoded file, header first.
        source: a name for the file, used in error messages.

    Raises:
        SourceDataError: on a wrong header, a malformed row or a repeated (symbol, time);
            the message names the source and the 1-based line.
    """
    table = _parse_table(text, source)
    return [table.snapshot(i) for i in range(len(table))]


def _read_gzip_csv(raw: IO[bytes], source: str) -> _Table:
    try:
        text = gzip.decompress(raw.read()).decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise SourceDataError(f"{source}: unreadable replay file: {exc}") from exc
    return _parse_table(text, source)


class _TimeSeries:
    """Per-symbol (ts, value) points, sorted, with their times kept for a plain bisect."""

    def __init__(self, by_symbol: dict[str, list[OiSample]]) -> None:
        self._points = {symbol: sorted(points) for symbol, points in by_symbol.items()}
        self._times = {symbol: [ts for ts, _ in points] for symbol, points in self._points.items()}

    def symbols(self) -> list[str]:
        """Every symbol with a series (those with no value at all included, empty)."""
        return sorted(self._points)

    def until(self, symbol: str, until: datetime) -> list[OiSample]:
        """The symbol's points up to and including ``until`` (none for an unknown symbol)."""
        times = self._times.get(symbol)
        if times is None:
            return []
        return self._points[symbol][: bisect.bisect_right(times, until)]


class ReplayMarket:
    """Recorded snapshots, indexed by time and by symbol for playback and OI backfill.

    Build one with ``bundled()`` (the synthetic demo market), ``from_path()`` or
    ``from_snapshots()``.
    """

    label = SYNTHETIC_LABEL

    def __init__(self, table: _Table) -> None:
        rows_at: dict[datetime, list[int]] = {}
        oi: dict[str, list[OiSample]] = {}
        mark: dict[str, list[OiSample]] = {}
        columns = zip(table.symbol, table.ts, table.numbers[_OI], table.numbers[_MARK], strict=True)
        for i, (symbol, ts, oi_value, mark_value) in enumerate(columns):
            rows_at.setdefault(ts, []).append(i)
            points = oi.setdefault(symbol, [])
            if oi_value is not None:
                points.append((ts, oi_value))
            if mark_value is not None:
                mark.setdefault(symbol, []).append((ts, mark_value))
        self._table = table
        self._times = sorted(rows_at)
        self._rows_at = {ts: sorted(rows, key=lambda i: table.symbol[i]) for ts, rows in rows_at.items()}
        self._oi = _TimeSeries(oi)
        self._mark = _TimeSeries(mark)

    @classmethod
    def from_snapshots(cls, snapshots: Iterable[MarketSnapshot]) -> ReplayMarket:
        """A market over snapshots already in memory (tests, fakes)."""
        return cls(_Table.of(list(snapshots)))

    @classmethod
    def from_path(cls, path: Path) -> ReplayMarket:
        """Load a replay file (gzip'd CSV) from disk.

        Raises:
            SourceDataError: the file cannot be read or a row is malformed (names the line).
        """
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise SourceDataError(f"{path}: cannot open replay file: {exc}") from exc
        with raw:
            return cls(_read_gzip_csv(raw, str(path)))

    @classmethod
    def bundled(cls) -> ReplayMarket:
        """Load the synthetic demo market shipped in the ``bot.data`` package."""
        resource = resources.files(DEMO_MARKET_PACKAGE).joinpath(DEMO_MARKET_FILE)
        with resource.open("rb") as raw:
            return cls(_read_gzip_csv(raw, DEMO_MARKET_FILE))

    def times(self) -> list[datetime]:
        """Every snapshot time, sorted, each once."""
        return list(self._times)

    def symbols(self) -> list[str]:
        """Every symbol in the market, sorted."""
        return self._oi.symbols()

    def snapshots_at(self, ts: datetime) -> list[MarketSnapshot]:
        """The snapshots taken at exactly ``ts``, sorted by symbol (empty for other times)."""
        return [self._table.snapshot(i) for i in self._rows_at.get(ts, ())]

    def oi_history(self, symbol: str, until: datetime) -> list[OiSample]:
        """One symbol's (ts, oi_contracts) points up to and including ``until``, oldest first.

        This is the backfill a cold start gets from an exchange's OI-history endpoint.
        Unknown symbols have no history; snapshots without OI are skipped.
        """
        return self._oi.until(symbol, until)

    def mark_history(self, symbol: str, until: datetime) -> list[OiSample]:
        """One symbol's (ts, mark_price) points up to and including ``until``, oldest first.

        The price moves that name the regime; snapshots without a mark price are skipped.
        """
        return self._mark.until(symbol, until)

    def first_time_with_history(self, hours: float) -> datetime | None:
        """The first snapshot time with at least ``hours`` of history behind it, if any.

        Playback that starts here scores every horizon up to ``hours`` from its first
        cycle, as a live start does after its backfill.
        """
        if not self._times:
            return None
        start = self._times[0]
        for ts in self._times:
            if (ts - start).total_seconds() >= hours * 3600:
                return ts
        return None
