"""Parse the ``dps evaluate`` CSV into score inputs, naming the line and column of any fault.

Contract (PRODUCT.md): header ``symbol,oi_1h,oi_4h,oi_24h,funding,funding_interval_h,basis``;
values in percent as the seed prints them (``0.79`` or ``+0.79%`` is +0.79 %); funding per its
own interval; interval in hours, 8 when the column is absent or the cell is empty; an empty
cell is a missing input. Optional ``price_1h,price_4h,price_24h``: the mark price's change in
percent, which only decides between regimes (who is opening or closing), never the score; a
file without them scores as before.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.funding import MAX_INTERVAL_H, MIN_INTERVAL_H
from bot.core.models import ScoreInputs
from bot.errors import CsvFormatError

REQUIRED = ("symbol", "oi_1h", "oi_4h", "oi_24h", "funding", "basis")
PRICE_COLUMNS = ("price_1h", "price_4h", "price_24h")
OPTIONAL = ("funding_interval_h", *PRICE_COLUMNS)
DEFAULT_INTERVAL_H = 8.0
MAX_SYMBOL_LEN = 40


@dataclass(frozen=True, slots=True)
class EvaluateRow:
    """One parsed CSV row: the symbol and its inputs."""

    line: int
    symbol: str
    inputs: ScoreInputs


def _number(raw: str, line: int, column: str) -> float | None:
    text = raw.strip()
    if not text:
        return None
    if text.endswith("%"):
        text = text[:-1].strip()
    try:
        value = float(text)
    except ValueError:
        raise CsvFormatError(f"not a number: {raw.strip()[:30]!r}", line, column) from None
    if not math.isfinite(value):
        raise CsvFormatError(f"not a finite number: {raw.strip()[:30]!r}", line, column)
    return value


def _header(fields: list[str]) -> list[str]:
    names = [f.strip().lower() for f in fields]
    unknown = [n for n in names if n not in REQUIRED + OPTIONAL]
    if unknown:
        raise CsvFormatError(
            f"unknown column {unknown[0]!r}; expected {','.join(REQUIRED[:5])},funding_interval_h,basis"
            f" and optionally {','.join(PRICE_COLUMNS)}",
            1,
            unknown[0],
        )
    missing = [n for n in REQUIRED if n not in names]
    if missing:
        raise CsvFormatError(f"missing column {missing[0]!r} in the header", 1, missing[0])
    duplicated = {n for n in names if names.count(n) > 1}
    if duplicated:
        name = sorted(duplicated)[0]
        raise CsvFormatError(f"column {name!r} appears twice", 1, name)
    return names


def _change(row: dict[str, str], column: str, line: int, what: str) -> float | None:
    """A relative change in %: a number, missing when empty, never a fall of 100 % or more."""
    change = _number(row.get(column, ""), line, column)
    if change is not None and change <= -100.0:
        raise CsvFormatError(f"{what} cannot fall by {change}%", line, column)
    return change


def _row(names: list[str], cells: list[str], line: int) -> EvaluateRow:
    if len(cells) != len(names):
        raise CsvFormatError(f"expected {len(names)} fields, found {len(cells)}", line)
    row = dict(zip(names, cells, strict=True))
    symbol = row["symbol"].strip().upper()
    if not symbol:
        raise CsvFormatError("empty symbol", line, "symbol")
    if len(symbol) > MAX_SYMBOL_LEN or not all(ch.isalnum() or ch in "/:_-." for ch in symbol):
        raise CsvFormatError(f"not a symbol: {row['symbol'].strip()[:30]!r}", line, "symbol")
    oi = {h: _change(row, f"oi_{h}", line, "open interest") for h in ("1h", "4h", "24h")}
    interval = _number(row.get("funding_interval_h", ""), line, "funding_interval_h")
    if interval is None:
        interval = DEFAULT_INTERVAL_H
    elif not MIN_INTERVAL_H <= interval <= MAX_INTERVAL_H:
        raise CsvFormatError(
            f"funding interval must be {MIN_INTERVAL_H:g}-{MAX_INTERVAL_H:g} hours, got {interval:g}",
            line,
            "funding_interval_h",
        )
    inputs = ScoreInputs(
        oi_1h_pct=oi["1h"],
        oi_4h_pct=oi["4h"],
        oi_24h_pct=oi["24h"],
        funding_pct=_number(row["funding"], line, "funding"),
        funding_interval_h=interval,
        basis_pct=_number(row["basis"], line, "basis"),
        price_1h_pct=_change(row, "price_1h", line, "the price"),
        price_4h_pct=_change(row, "price_4h", line, "the price"),
        price_24h_pct=_change(row, "price_24h", line, "the price"),
    )
    return EvaluateRow(line=line, symbol=symbol, inputs=inputs)


def parse_evaluate_csv(lines: Iterable[str]) -> list[EvaluateRow]:
    """Parse the evaluate CSV.

    Args:
        lines: the file's text lines (already decoded).

    Returns:
        One row per data line, in file order. Blank lines are skipped.

    Raises:
        CsvFormatError: on the first malformed line, naming line and column.
    """
    reader = csv.reader(lines, strict=True)
    names: list[str] | None = None
    rows: list[EvaluateRow] = []
    seen: dict[str, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if names is None:
                names = _header(cells)
                continue
            parsed = _row(names, cells, line)
            if parsed.symbol in seen:
                raise CsvFormatError(
                    f"{parsed.symbol} already given on line {seen[parsed.symbol]}", line, "symbol"
                )
            seen[parsed.symbol] = line
            rows.append(parsed)
    except csv.Error as exc:
        raise CsvFormatError(f"unreadable CSV ({exc})", reader.line_num) from exc
    if names is None:
        raise CsvFormatError("the file is empty; expected a header line", 1)
    if not rows:
        raise CsvFormatError("no data rows after the header", reader.line_num)
    return rows
