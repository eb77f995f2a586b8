"""The breakdown under an aggregate's card: the aggregate line, one line per venue, the flag.

Built from one asset's ``Aggregate`` (shares, funding, basis per venue) and each venue's own
stored score of its symbol. A venue without a score of its own shows a dash. Pure and
standard-library only; the lines are plain text for any chat to place under the card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.aggregate import AGGREGATE_EXCHANGE, Aggregate, LoneStretch, lone_stretch
from bot.core.models import Band, ScoreResult

VENUE_NAMES = {"binanceusdm": "Binance", "bybit": "Bybit", "okx": "OKX"}
"""How people call the venues (ccxt ids otherwise)."""


def venue_name(venue: str) -> str:
    return VENUE_NAMES.get(venue, venue)


def venue_title(venue: str) -> str:
    """How a message names a venue or the aggregate: ``Bybit``, ``all venues``."""
    return "all venues" if venue == AGGREGATE_EXCHANGE else venue_name(venue)


@dataclass(frozen=True, slots=True)
class VenueLine:
    """One venue's part of an asset: its own score, share of OI, funding (8 h) and basis, in %."""

    venue: str
    symbol: str
    score: int | None
    band: Band | None
    oi_share: float | None
    funding_8h_pct: float | None
    basis_pct: float | None


@dataclass(frozen=True, slots=True)
class Breakdown:
    """An asset across its venues, as the card shows it under the aggregate's score."""

    asset: str
    score: int
    band: Band
    venues: tuple[VenueLine, ...]
    funding_spread_pct: float | None
    basis_spread_pct: float | None
    lone: LoneStretch | None


def breakdown(
    agg: Aggregate, result: ScoreResult, venue_results: Mapping[tuple[str, str], ScoreResult]
) -> Breakdown:
    """The breakdown of ``agg`` scored ``result``; ``venue_results`` by (venue, symbol)."""
    lines = []
    for v in agg.venues:
        own = venue_results.get((v.venue, v.symbol))
        lines.append(
            VenueLine(
                v.venue,
                v.symbol,
                None if own is None else own.score,
                None if own is None else own.band,
                v.oi_share,
                v.funding_8h_pct,
                v.basis_pct,
            )
        )
    scored = [(x.venue, x.band, x.oi_share) for x in lines if x.band is not None]
    return Breakdown(
        asset=agg.snapshot.symbol,
        score=result.score,
        band=result.band,
        venues=tuple(lines),
        funding_spread_pct=agg.funding_spread_pct,
        basis_spread_pct=agg.basis_spread_pct,
        lone=lone_stretch(scored),
    )


def _pct(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:+.{decimals}f} %"


def _spread(value: float | None, decimals: int) -> str:
    return "–" if value is None else f"{value:.{decimals}f} pt"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} % of OI"


def breakdown_lines(b: Breakdown) -> list[str]:
    """``All venues: 41 stretched``, then a line per venue, the spreads, and the lone-venue flag."""
    lines = [f"All venues: {b.score} {b.band.value}"]
    for v in b.venues:
        own = "–" if v.score is None or v.band is None else f"{v.score} {v.band.value}"
        lines.append(
            f"{venue_name(v.venue)} {v.symbol}: {own} · {_share(v.oi_share)} · "
            f"funding {_pct(v.funding_8h_pct, 4)}/8h · basis {_pct(v.basis_pct, 2)}"
        )
    if b.funding_spread_pct is not None or b.basis_spread_pct is not None:
        funding, basis = _spread(b.funding_spread_pct, 4), _spread(b.basis_spread_pct, 2)
        lines.append(f"Spread across venues: funding {funding}/8h · basis {basis}")
    if b.lone is not None:
        share = "" if b.lone.oi_share is None else f", {100 * b.lone.oi_share:.0f} % of OI"
        lines.append(f"{b.lone.band.value.capitalize()} on {venue_name(b.lone.venue)} only{share}")
    return lines
