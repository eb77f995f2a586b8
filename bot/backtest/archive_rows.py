"""The archive's CSV rows → typed records, checked cell by cell.

Times become whole UTC seconds since the epoch. Epoch stamps may be milliseconds or (in
the archive's newer files) microseconds; the magnitude tells which. A bad cell raises an
``InputError`` naming the file, line and column; an empty cell in a column that may be
empty is passed on as ``None`` for the caller to report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.backtest.archive_files import ArchiveFile
from bot.errors import InputError

METRICS_COLUMNS = (
    "create_time",
    "symbol",
    "sum_open_interest",
    "sum_open_interest_value",
    "count_toptrader_long_short_ratio",
    "sum_toptrader_long_short_ratio",
    "count_long_short_ratio",
    "sum_taker_long_short_vol_ratio",
)
FUNDING_COLUMNS = ("calc_time", "funding_interval_hours", "last_funding_rate")
KLINE_COLUMNS = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)
_KLINE_NAMED = {0: "open_time", 4: "close", 6: "close_time"}
"""Header names a kline file must have where they are read; the rest are not read."""

_MICROSECONDS_FROM = 10**14
"""Epoch stamps at or above this are microseconds (ms reach it only in the year 5138)."""


@dataclass(frozen=True, slots=True)
class MetricsRow:
    """One metrics row: open interest at ``ts``; ``where`` is ``file:line``."""

    ts: int
    oi: float | None
    oi_usd: float | None
    where: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """One funding settlement: the rate settled at ``ts`` for an interval of ``interval_h``."""

    ts: int
    interval_h: float
    rate: float
    where: str


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline's close price and the second it closed at."""

    closes_at: int
    close: float
    where: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input row left out, and why."""

    where: str
    reason: str


class _Cells:
    """One row's cells with the file and line, for messages that name all three."""

    def __init__(self, file: ArchiveFile, line: int, cells: list[str], columns: tuple[str, ...]) -> None:
        self.file = file
        self.line = line
        self.cells = cells
        self.columns = columns

    @property
    def where(self) -> str:
        return f"{self.file.path.name}:{self.line}"

    def fail(self, column: str, message: str) -> InputError:
        return InputError(f"{self.file.path}: line {self.line}, column {column!r}: {message}")

    def text(self, i: int) -> str:
        return self.cells[i].strip()

    def number(self, i: int) -> float | None:
        text = self.text(i)
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise self.fail(self.columns[i], f"not a number: {text[:40]!r}") from None
        if not math.isfinite(value):
            raise self.fail(self.columns[i], f"not a finite number: {text[:40]!r}")
        return value

    def epoch(self, i: int) -> int:
        text = self.text(i)
        if not text.isdigit():
            raise self.fail(self.columns[i], f"not an epoch time in ms or µs: {text[:40]!r}")
        stamp = int(text)
        per_second = 1_000_000 if stamp >= _MICROSECONDS_FROM else 1000
        return (stamp + per_second // 2) // per_second

    def moment(self, i: int) -> int:
        text = self.text(i)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.fail(self.columns[i], f"not a time like 2024-01-01 00:05:00: {text[:40]!r}") from None
        if moment.utcoffset() is None:
            moment = moment.replace(tzinfo=UTC)  # the archive's times are UTC
        return round(moment.timestamp())


def _rows(
    file: ArchiveFile, rows: Iterable[tuple[int, list[str]]], columns: tuple[str, ...], kline: bool
) -> Iterator[_Cells]:
    """The data rows: a header, when there is one, is checked and skipped."""
    first = True
    for line, cells in rows:
        if len(cells) != len(columns):
            raise InputError(
                f"{file.path}: line {line}: expected {len(columns)} columns "
                f"({','.join(columns)}), found {len(cells)}"
            )
        if first:
            first = False
            if not _looks_like_data(cells[0]):
                if kline:
                    _check_kline_header(file, line, cells)
                else:
                    _check_header(file, line, cells, columns)
                continue
        yield _Cells(file, line, cells, columns)


def _looks_like_data(cell: str) -> bool:
    return cell.strip()[:1].isdigit()


def _check_header(file: ArchiveFile, line: int, cells: list[str], columns: tuple[str, ...]) -> None:
    for got, want in zip(cells, columns, strict=True):
        if got.strip() != want:
            raise InputError(
                f"{file.path}: line {line}, column {want!r}: header has {got.strip()[:40]!r}; "
                f"expected {','.join(columns)}"
            )


def _check_kline_header(file: ArchiveFile, line: int, cells: list[str]) -> None:
    for i, want in _KLINE_NAMED.items():
        if cells[i].strip() != want:
            raise InputError(
                f"{file.path}: line {line}, column {want!r}: header has {cells[i].strip()[:40]!r} "
                f"at position {i + 1}; expected {','.join(KLINE_COLUMNS)}"
            )


def metrics_rows(file: ArchiveFile, rows: Iterable[tuple[int, list[str]]]) -> Iterator[MetricsRow]:
    """Metrics rows; an empty open-interest cell becomes ``None``.

    The long/short ratio columns are not used and not checked.

    Raises:
        InputError: a wrong header or column count, a bad time or number, or a row of
            another symbol than the file's (names file, line and column).
    """
    for row in _rows(file, rows, METRICS_COLUMNS, kline=False):
        symbol = row.text(1)
        if symbol != file.symbol:
            raise row.fail("symbol", f"{symbol[:40]!r} in a file of {file.symbol}")
        yield MetricsRow(row.moment(0), row.number(2), row.number(3), row.where)


def funding_rows(
    file: ArchiveFile, rows: Iterable[tuple[int, list[str]]], skipped: list[Skipped]
) -> Iterator[Settlement]:
    """Funding settlements; a row with an empty interval or rate is added to ``skipped``.

    Raises:
        InputError: a wrong header or column count, a bad time or number, an interval
            that is not positive (names file, line and column).
    """
    for row in _rows(file, rows, FUNDING_COLUMNS, kline=False):
        interval, rate = row.number(1), row.number(2)
        if interval is None or rate is None:
            skipped.append(Skipped(row.where, "empty funding interval or rate"))
            continue
        if interval <= 0:
            raise row.fail("funding_interval_hours", f"not a positive number of hours: {row.text(1)!r}")
        yield Settlement(row.epoch(0), interval, rate, row.where)


def kline_rows(
    file: ArchiveFile, rows: Iterable[tuple[int, list[str]]], skipped: list[Skipped]
) -> Iterator[Kline]:
    """Klines (open time and close price); a row with an empty close is added to ``skipped``.

    Raises:
        InputError: a wrong header or column count, a bad stamp or number, a close time
            not after the open time (names file, line and column).
    """
    for row in _rows(file, rows, KLINE_COLUMNS, kline=True):
        opened, close = row.epoch(0), row.number(4)
        # close_time is the last instant inside the kline (open + interval - 1 ms or µs).
        closes_at = row.epoch(6)
        if closes_at <= opened:
            raise row.fail("close_time", f"not after open_time: {row.text(6)!r}")
        if close is None:
            skipped.append(Skipped(row.where, "empty kline close"))
            continue
        yield Kline(closes_at, close, row.where)
