"""The dashboard's table: the ranked rows filtered, searched and sorted, as cells to show.

Sorting and search happen here, over the rows ``Queries.top`` ranked; the numbers and the
rank stay the bot's (``/top`` shows the same rank for the same symbol).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.app.views import RankedRow
from bot.render.numbers import funding_pct, pct

SEARCH_MAX = 32
"""Longer search text names no symbol; it is refused rather than compared."""


class SortKey(StrEnum):
    """The sortable columns of the table."""

    RANK = "rank"
    SYMBOL = "symbol"
    SCORE = "score"
    BIAS = "bias"
    REGIME = "regime"
    OI_1H = "oi_1h"
    OI_24H = "oi_24h"
    FUNDING = "funding"
    BASIS = "basis"


def _magnitude(value: float | None) -> float:
    # Missing values sort after every present one, whichever the direction.
    return -1.0 if value is None else abs(value)


def _funding_8h(row: RankedRow) -> float | None:
    return row.result.components.funding_8h_pct


_KEYS: dict[SortKey, Callable[[RankedRow], float | str | int]] = {
    SortKey.RANK: lambda r: r.rank,
    SortKey.SYMBOL: lambda r: r.symbol,
    SortKey.SCORE: lambda r: r.result.score,
    SortKey.BIAS: lambda r: r.result.bias.value,
    SortKey.REGIME: lambda r: r.result.label,
    # Signed rates sort by size, either sign: the most extreme funding is the news, long or short.
    SortKey.OI_1H: lambda r: _magnitude(r.inputs.oi_1h_pct),
    SortKey.OI_24H: lambda r: _magnitude(r.inputs.oi_24h_pct),
    SortKey.FUNDING: lambda r: _magnitude(_funding_8h(r)),
    SortKey.BASIS: lambda r: _magnitude(r.inputs.basis_pct),
}

DESCENDING_FIRST = frozenset({SortKey.SCORE, SortKey.OI_1H, SortKey.OI_24H, SortKey.FUNDING, SortKey.BASIS})
"""Columns whose first click shows the largest values first (the rest: A to Z, rank 1 first)."""


def sort_rows(rows: Sequence[RankedRow], key: SortKey, descending: bool) -> list[RankedRow]:
    """``rows`` ordered by ``key``; ties keep the bot's rank order."""
    by_rank = sorted(rows, key=lambda r: r.rank)
    return sorted(by_rank, key=_KEYS[key], reverse=descending)


def search_rows(rows: Sequence[RankedRow], text: str) -> list[RankedRow]:
    """Rows whose symbol contains ``text`` (letters and digits only, any case)."""
    key = "".join(ch for ch in text.upper() if ch.isalnum())
    return [r for r in rows if key in r.symbol.upper()] if key else list(rows)


@dataclass(frozen=True, slots=True)
class RowCells:
    """One table row as the template shows it (text, escaped by the template)."""

    rank: int
    symbol: str
    score: int
    partial: bool
    band: str
    bias: str
    regime: str
    squeeze: bool
    oi_1h: str
    oi_24h: str
    funding: str
    basis: str


def cells(row: RankedRow) -> RowCells:
    """The seed's columns of one row, formatted as the chats format them."""
    r, i = row.result, row.inputs
    return RowCells(
        rank=row.rank,
        symbol=row.symbol,
        score=r.score,
        partial=r.partial,
        band=r.band.value,
        bias=r.bias.value,
        regime=r.label,
        squeeze=r.regime.is_squeeze_risk,
        oi_1h=pct(i.oi_1h_pct, 2),
        oi_24h=pct(i.oi_24h_pct, 1),
        funding=funding_pct(i.funding_pct, i.funding_interval_h),
        basis=pct(i.basis_pct, 2),
    )
