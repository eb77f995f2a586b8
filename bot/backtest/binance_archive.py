"""``dps import binance-archive``: Binance's public USD-M futures archive → a market file.

One output row per symbol per 5-minute metrics time, joined as follows (the reasons are in
``docs/backtest.md``):

- open interest: the metrics row (``sum_open_interest``, ``sum_open_interest_value``);
- mark and index price: the close of the latest kline that closed at or before the row's
  time, and no more than ``MAX_PRICE_AGE_S`` before it (a 5-minute kline opened at 11:55
  closes at 12:00 and prices the 12:00 row) — never a kline still open at that time;
- index price without index klines: ``mark / (1 + premium)``, the premium index kline's
  close being the premium as a fraction of the index;
- funding: the rate of the latest settlement at or before the row's time (the archive
  holds settled rates, not the live predicted rate; taking the next settlement's rate
  instead would leak the future into a backtest), its interval, and the next settlement
  in the files as ``next_funding_time``.

A row missing open interest, a price or a funding rate is dropped and reported; nothing
is fetched from anywhere.
"""

from __future__ import annotations

import bisect
import gzip
import itertools
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bot.backtest.archive_files import (
    FUNDING,
    INDEX,
    MARK,
    METRICS,
    PREMIUM,
    ArchiveFile,
    checksum_problem,
    csv_rows,
    csv_text,
    discover,
    has_checksum,
    read_bytes,
)
from bot.backtest.archive_report import SLOT_S, Dropped, FundingGap, Gap, ImportReport, iso
from bot.backtest.archive_rows import (
    Kline,
    MetricsRow,
    Settlement,
    Skipped,
    funding_rows,
    kline_rows,
    metrics_rows,
)
from bot.errors import InputError

EXCHANGE = "binanceusdm"
HEADER = (
    "exchange,symbol,ts,oi_contracts,oi_usd,mark_price,index_price,last_price,"
    "funding_rate,funding_interval_h,next_funding_time,volume_24h_usd"
)
MAX_PRICE_AGE_S = 15 * 60
"""A price older than three 5-minute klines would blur the 1h price and basis moves."""
FUNDING_STALE_INTERVALS = 2
"""A settled rate is used for up to two of its intervals: one missing settlement is bridged
(and reported), a longer hole drops the rows rather than carry an old rate for days."""

_DAY = timedelta(days=1)
_T = TypeVar("_T", MetricsRow, Settlement, Kline)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which part of the archive to convert (None: everything found)."""

    symbols: frozenset[str] | None = None
    first_day: date | None = None
    last_day: date | None = None

    def covers_file(self, file: ArchiveFile) -> bool:
        """Whether the file may hold rows needed for the selected days.

        Klines and funding from the day before are needed to price and fund the first
        rows, and the day after holds the last day's next settlement; metrics files are
        read for the selected days only.
        """
        if self.symbols is not None and file.symbol not in self.symbols:
            return False
        slack = timedelta(0) if file.kind == METRICS else _DAY
        if self.first_day is not None and file.last_day < self.first_day - slack:
            return False
        return self.last_day is None or file.first_day <= self.last_day + slack

    def covers_time(self, ts: int) -> bool:
        """Whether a row at ``ts`` falls on a selected day (UTC, both ends included)."""
        day = datetime.fromtimestamp(ts, UTC).date()
        if self.first_day is not None and day < self.first_day:
            return False
        return self.last_day is None or day <= self.last_day


def selection_from(symbols: str | None, first_day: str | None, last_day: str | None) -> Selection:
    """A selection from the command line's ``--symbols A,B --from DATE --to DATE``.

    Raises:
        InputError: an empty symbol list, a date that is not YYYY-MM-DD, --from after --to.
    """
    chosen = None
    if symbols is not None:
        chosen = frozenset(s.strip().upper() for s in symbols.split(",") if s.strip())
        if not chosen:
            raise InputError("--symbols: no symbol given (e.g. --symbols BTCUSDT,ETHUSDT)")
    days = [_day(text, flag) for text, flag in ((first_day, "--from"), (last_day, "--to"))]
    if days[0] is not None and days[1] is not None and days[0] > days[1]:
        raise InputError(f"--from {days[0]} is after --to {days[1]}")
    return Selection(chosen, days[0], days[1])


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag}: not a date like 2024-01-31: {text[:40]!r}") from None


class _Series:
    """One kind of klines of one symbol: close prices by the second they closed at."""

    def __init__(self, klines: Iterable[Kline]) -> None:
        ordered = sorted(klines, key=lambda k: k.closes_at)
        self.closes = [k.closes_at for k in ordered]
        self.prices = [k.close for k in ordered]

    def __bool__(self) -> bool:
        return bool(self.closes)

    def at(self, ts: int) -> tuple[float, bool] | None:
        """(close, closed before ``ts``) of the latest kline closed by ``ts``, if recent enough."""
        i = bisect.bisect_right(self.closes, ts) - 1
        if i < 0 or ts - self.closes[i] > MAX_PRICE_AGE_S:
            return None
        return self.prices[i], self.closes[i] < ts


@dataclass(frozen=True, slots=True)
class _Prices:
    mark: _Series
    index: _Series
    premium: _Series


class _Funding:
    """One symbol's settlements, in time order."""

    def __init__(self, settlements: Iterable[Settlement]) -> None:
        self.items = sorted(settlements, key=lambda s: s.ts)
        self.times = [s.ts for s in self.items]

    def at(self, ts: int) -> tuple[Settlement, int | None] | str:
        """(settlement in force, next settlement time) at ``ts``, or why there is none."""
        i = bisect.bisect_right(self.times, ts) - 1
        if i < 0:
            return "no funding settlement in the files at or before this time"
        current = self.items[i]
        if ts - current.ts >= FUNDING_STALE_INTERVALS * current.interval_h * 3600:
            return f"funding stale: the last settlement in the files is {iso(current.ts)}"
        following = self.times[i + 1] if i + 1 < len(self.times) else None
        return current, following

    def gaps(self, symbol: str) -> list[FundingGap]:
        """Consecutive settlements further apart than either one's interval (plus a minute)."""
        out = []
        for a, b in itertools.pairwise(self.items):
            if b.ts - a.ts > max(a.interval_h, b.interval_h) * 3600 + 60:
                out.append(FundingGap(symbol, a.ts, b.ts))
        return out


def _number(value: float) -> str:
    """Shortest text that reads back as the same float; whole numbers without '.0'."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _derived(value: float) -> str:
    """A computed price: ten significant digits, so float noise does not show."""
    return f"{value:.10g}"


class _Importer:
    def __init__(self, selection: Selection, report: ImportReport) -> None:
        self.selection = selection
        self.report = report

    def load(self, file: ArchiveFile) -> list[tuple[int, list[str]]]:
        self.report.files_read[file.kind] += 1
        return list(csv_rows(file, csv_text(file, read_bytes(file))))

    def unique(
        self, items: Iterable[_T], key: Callable[[_T], int], same: Callable[[_T, _T], bool]
    ) -> list[_T]:
        """First of each key; a later one with other values is reported as left out."""
        kept: dict[int, _T] = {}
        for item in items:
            first = kept.setdefault(key(item), item)
            if first is not item and not same(first, item):
                self.report.skipped_input.append(
                    Skipped(item.where, f"same time as {first.where} with other values; kept {first.where}")
                )
        return list(kept.values())

    def klines(self, files: Sequence[ArchiveFile]) -> _Series:
        rows = (k for f in files for k in kline_rows(f, self.load(f), self.report.skipped_input))
        return _Series(self.unique(rows, lambda k: k.closes_at, lambda a, b: a.close == b.close))

    def funding(self, files: Sequence[ArchiveFile]) -> _Funding:
        rows = (s for f in files for s in funding_rows(f, self.load(f), self.report.skipped_input))
        return _Funding(
            self.unique(rows, lambda s: s.ts, lambda a, b: (a.rate, a.interval_h) == (b.rate, b.interval_h))
        )

    def metrics(self, symbol: str, files: Sequence[ArchiveFile]) -> list[MetricsRow]:
        """The symbol's metrics rows on the selected days, each time once, in time order."""
        kept: dict[int, MetricsRow] = {}
        for file in files:
            for row in metrics_rows(file, self.load(file)):
                if not self.selection.covers_time(row.ts):
                    self.report.outside_dates += 1
                    continue
                first = kept.setdefault(row.ts, row)
                if first is row:
                    continue
                if (first.oi, first.oi_usd) == (row.oi, row.oi_usd):
                    self.report.identical_duplicates[symbol] += 1
                else:
                    reason = f"same time as {first.where} with other values (kept {first.where})"
                    self.report.dropped.append(Dropped(symbol, row.ts, f"{row.where}: {reason}"))
        return [kept[ts] for ts in sorted(kept)]

    def gaps(self, symbol: str, rows: Sequence[MetricsRow]) -> None:
        for a, b in itertools.pairwise(rows):
            if b.ts - a.ts > SLOT_S:
                self.report.gaps.append(Gap(symbol, a.ts + SLOT_S, b.ts - SLOT_S))

    def symbol_rows(self, symbol: str, files: dict[str, list[ArchiveFile]]) -> list[tuple[int, str]]:
        """(time, output line) for each of the symbol's rows that has everything it needs."""
        rows = self.metrics(symbol, files[METRICS])
        self.gaps(symbol, rows)
        prices = _Prices(self.klines(files[MARK]), self.klines(files[INDEX]), self.klines(files[PREMIUM]))
        funding = self.funding(files[FUNDING])
        self.report.funding_gaps += funding.gaps(symbol)
        out = []
        for row in rows:
            cells = self.join(symbol, row, prices, funding)
            if isinstance(cells, str):
                self.report.dropped.append(Dropped(symbol, row.ts, cells))
            else:
                out.append((row.ts, ",".join(cells)))
        return out

    def join(self, symbol: str, row: MetricsRow, prices: _Prices, funding: _Funding) -> list[str] | str:
        """The output cells, or why the row is dropped."""
        if row.oi is None:
            return "empty sum_open_interest"
        mark = prices.mark.at(row.ts)
        if mark is None:
            return "no mark price kline closed in the 15 min up to this time"
        index = prices.index.at(row.ts)
        if index is not None:
            index_text = _number(index[0])
        else:
            index = prices.premium.at(row.ts)
            if index is None:
                return "no index or premium index kline closed in the 15 min up to this time"
            if index[0] <= -1.0:
                return f"premium index {index[0]!r} is not above -100 %"
            index_text = _derived(mark[0] / (1.0 + index[0]))
            self.report.derived_index[symbol] += 1
        if mark[1] or index[1]:
            self.report.older_kline += 1
        found = funding.at(row.ts)
        if isinstance(found, str):
            return found
        settlement, following = found
        return [
            EXCHANGE,
            symbol,
            iso(row.ts),
            _number(row.oi),
            "" if row.oi_usd is None else _number(row.oi_usd),
            _number(mark[0]),
            index_text,
            "",  # last_price: the archive's trade klines are not read
            _number(settlement.rate),
            _number(settlement.interval_h),
            "" if following is None else iso(following),
            "",  # volume_24h_usd: likewise
        ]


def _plan(
    files: Sequence[ArchiveFile], selection: Selection, report: ImportReport
) -> dict[str, dict[str, list[ArchiveFile]]]:
    """Files by symbol and kind; symbols lacking a kind are skipped (or refused when asked for)."""
    plan: dict[str, dict[str, list[ArchiveFile]]] = defaultdict(lambda: defaultdict(list))
    for file in files:
        if selection.covers_file(file):
            plan[file.symbol][file.kind].append(file)
    problems = []
    for symbol in sorted(selection.symbols or ()):
        if not plan.get(symbol, {}).get(METRICS):
            problems.append(f"{symbol}: no metrics files for the selected days")
    usable = {}
    for symbol, kinds in sorted(plan.items()):
        missing = [k for k in (METRICS, FUNDING, MARK) if not kinds.get(k)]
        if not kinds.get(INDEX) and not kinds.get(PREMIUM):
            missing.append(f"{INDEX} or {PREMIUM}")
        if not missing:
            usable[symbol] = kinds
        elif selection.symbols is not None and symbol in selection.symbols:
            problems.append(f"{symbol}: no {', no '.join(missing)} files for the selected days")
        else:
            report.skipped_symbols[symbol] = f"no {', no '.join(missing)} files"
    if problems:
        raise InputError("; ".join(dict.fromkeys(problems)))
    return usable


def _verify(plan: dict[str, dict[str, list[ArchiveFile]]], report: ImportReport) -> None:
    """Check every zip with a ``.CHECKSUM`` beside it before reading any; refuse on a mismatch."""
    problems = []
    for kinds in plan.values():
        for files in kinds.values():
            for file in files:
                if file.path.suffix != ".zip":
                    continue
                if not has_checksum(file):
                    report.zips_without_checksum += 1
                    continue
                problem = checksum_problem(file, read_bytes(file))
                if problem is None:
                    report.checksums_verified += 1
                else:
                    problems.append(problem)
    if problems:
        raise InputError(
            f"{len(problems)} files fail their .CHECKSUM (download them again): " + "; ".join(problems)
        )


def _emit(write: Callable[[bytes], object], lines: Iterable[str]) -> None:
    write((HEADER + "\n").encode())
    rest = iter(lines)
    while chunk := list(itertools.islice(rest, 10_000)):
        write(("\n".join(chunk) + "\n").encode())


def _write(out: Path, lines: Iterable[str]) -> None:
    """Write the market file whole or not at all (gzip when the name ends in ``.gz``)."""
    folder = out.parent if str(out.parent) else Path()
    try:
        handle, temp = tempfile.mkstemp(prefix=".dps-import-", dir=folder)
    except OSError as exc:
        raise InputError(f"{out}: cannot write here: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as raw:
            if out.suffix == ".gz":
                # mtime=0: the same input gives the same bytes.
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as packed:
                    _emit(packed.write, lines)
            else:
                _emit(raw.write, lines)
        os.replace(temp, out)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def import_archive(root: Path, out: Path, selection: Selection | None = None) -> ImportReport:
    """Convert the archive files under ``root`` into the market file ``out``.

    Returns:
        The report: files read and ignored, symbols skipped, gaps, dropped rows.

    Raises:
        InputError: nothing usable, a file failing its ``.CHECKSUM``, a corrupt zip or a
            malformed CSV (names the file, line and column), a requested symbol without
            the files it needs; the output file is then left untouched.
    """
    selection = selection or Selection()
    report = ImportReport(output=out)
    found = discover(root)
    report.ignored_files = found.ignored
    plan = _plan(found.files, selection, report)
    if not plan:
        raise InputError(
            f"{root}: no symbol has metrics, fundingRate, mark and index (or premium) kline files"
        )
    _verify(plan, report)
    importer = _Importer(selection, report)
    lines: list[str] = []
    times: list[int] = []
    for symbol, files in plan.items():
        rows = importer.symbol_rows(symbol, files)
        if rows:
            report.symbols.append(symbol)
            times += (ts for ts, _ in rows)
            lines += (line for _, line in rows)
    if not lines:
        raise InputError(f"{root}: no rows to write\n" + "\n".join(report.lines()))
    report.first_ts, report.last_ts = min(times), max(times)
    report.rows_written = len(lines)
    _write(out, lines)
    return report
