"""What an archive import did: files read and ignored, gaps, every dropped row and why."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bot.backtest.archive_rows import Skipped
from bot.backtest.utc_text import utc_text

SLOT_S = 300
"""The metrics' cadence: one row per symbol every 5 minutes."""


@functools.lru_cache(maxsize=65_536)  # every symbol shares the same few thousand times
def iso(ts: int) -> str:
    """Epoch seconds → ``2024-01-01T00:05:00Z``."""
    return utc_text(ts)


@dataclass(frozen=True, slots=True)
class Dropped:
    """A metrics row (one symbol, one time) that is not in the output, and why."""

    symbol: str
    ts: int
    reason: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing 5-minute metrics rows: ``slots`` of them from ``first`` to ``last``."""

    symbol: str
    first: int
    last: int

    @property
    def slots(self) -> int:
        return (self.last - self.first) // SLOT_S + 1


@dataclass(frozen=True, slots=True)
class FundingGap:
    """No settlement in the files between two settlements further apart than their interval."""

    symbol: str
    after: int
    before: int


_G = TypeVar("_G", Gap, FundingGap)


@dataclass
class ImportReport:
    """Everything an import did, for the person who ran it (``lines()``) and for tests."""

    output: Path
    rows_written: int = 0
    symbols: list[str] = field(default_factory=list)
    first_ts: int | None = None
    last_ts: int | None = None
    files_read: Counter[str] = field(default_factory=Counter)
    checksums_verified: int = 0
    zips_without_checksum: int = 0
    ignored_files: list[tuple[Path, str]] = field(default_factory=list)
    skipped_symbols: dict[str, str] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)
    funding_gaps: list[FundingGap] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    identical_duplicates: Counter[str] = field(default_factory=Counter)
    outside_dates: int = 0
    skipped_input: list[Skipped] = field(default_factory=list)
    derived_index: Counter[str] = field(default_factory=Counter)
    older_kline: int = 0

    def lines(self) -> list[str]:
        """The report as text lines (for stderr)."""
        out = [self._files_line()]
        out += [f"  ignored {path}: {why}" for path, why in self.ignored_files]
        out += [f"skipped symbol {s}: {why}" for s, why in sorted(self.skipped_symbols.items())]
        if self.first_ts is not None and self.last_ts is not None:
            span = f"{iso(self.first_ts)} … {iso(self.last_ts)}"
            out.append(
                f"wrote {self.rows_written} rows, {len(self.symbols)} symbols, {span} to {self.output}"
            )
        if self.outside_dates:
            out.append(f"left out {self.outside_dates} metrics rows outside --from/--to")
        if self.derived_index:
            per = ", ".join(f"{s} {n}" for s, n in sorted(self.derived_index.items()))
            out.append(f"index price derived from the premium index (mark / (1 + premium)) in {per} rows")
        if self.older_kline:
            out.append(
                f"{self.older_kline} rows priced from a kline that closed before the row (up to 15 min)"
            )
        out += self._gap_lines()
        out += self._dropped_lines()
        if self.skipped_input:
            out.append(f"input rows left out: {len(self.skipped_input)}")
            out += [f"  {s.where}: {s.reason}" for s in self.skipped_input]
        return out

    def _files_line(self) -> str:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(self.files_read.items()))
        total = sum(self.files_read.values())
        return (
            f"read {total} files ({kinds or 'none'}); {self.checksums_verified} checksums verified, "
            f"{self.zips_without_checksum} zips without .CHECKSUM; {len(self.ignored_files)} files ignored"
        )

    def _gap_lines(self) -> list[str]:
        out = []
        if self.gaps:
            slots = sum(g.slots for g in self.gaps)
            out.append(f"gaps: {slots} missing 5-minute metrics rows in {len(self.gaps)} gaps")
            for symbol, gaps in _by_symbol(self.gaps):
                ranges = ", ".join(_range(g.first, g.last, g.slots) for g in gaps)
                out.append(f"  {symbol}: {sum(g.slots for g in gaps)} in {len(gaps)}: {ranges}")
        if self.funding_gaps:
            out.append(f"funding settlements missing in {len(self.funding_gaps)} places")
            for symbol, fgaps in _by_symbol(self.funding_gaps):
                spans = ", ".join(f"none between {iso(g.after)} and {iso(g.before)}" for g in fgaps)
                out.append(f"  {symbol}: {spans}")
        return out

    def _dropped_lines(self) -> list[str]:
        if not self.dropped and not self.identical_duplicates:
            return []
        total = len(self.dropped) + sum(self.identical_duplicates.values())
        out = [f"dropped {total} metrics rows"]
        for symbol, n in sorted(self.identical_duplicates.items()):
            out.append(f"  {symbol}: {n} exact duplicates")
        groups: dict[tuple[str, str], list[int]] = {}
        for d in self.dropped:
            groups.setdefault((d.symbol, d.reason), []).append(d.ts)
        for (symbol, reason), times in sorted(groups.items()):
            ranges = ", ".join(_range(a, b, n) for a, b, n in _runs(sorted(times)))
            out.append(f"  {symbol}: {reason}: {ranges}")
        return out


def _by_symbol(items: Iterable[_G]) -> list[tuple[str, list[_G]]]:
    grouped: dict[str, list[_G]] = {}
    for item in items:
        grouped.setdefault(item.symbol, []).append(item)
    return sorted(grouped.items())


def _runs(times: list[int]) -> list[tuple[int, int, int]]:
    """Sorted times → (first, last, count) runs of consecutive 5-minute slots."""
    runs: list[tuple[int, int, int]] = []
    for ts in times:
        if runs and ts - runs[-1][1] == SLOT_S:
            first, _, n = runs[-1]
            runs[-1] = (first, ts, n + 1)
        else:
            runs.append((ts, ts, 1))
    return runs


def _range(first: int, last: int, count: int) -> str:
    return iso(first) if first == last else f"{iso(first)}…{iso(last)} ({count})"
