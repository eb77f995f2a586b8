"""One asset's market summed over venues, as a snapshot the scoring core can read.

Per canonical asset (``bot.core.instruments``) and time, from each venue's snapshot:

- open interest: the sum of every venue's OI in canonical base units (venue OI × units),
  and of their USD values. Only when every venue reported it: a venue missing for one
  cycle would otherwise read as a third of the open interest closing.
- funding: each venue's rate on an 8-hour footing, weighted by its USD open interest, over
  the venues that reported both. The aggregate settles "every 8 h" by construction.
- basis: each venue's mark over index premium, weighted the same way.
- price: the OI-weighted mark price per canonical unit; the aggregate's index price is
  set so that its basis is the weighted basis above.
- each venue's share of the USD open interest, and the spread (highest minus lowest) of
  funding and of basis across venues: how far the venues disagree.

Pure and standard-library only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.core.funding import to_8h_equivalent, valid_interval
from bot.core.inputs import basis_pct, funding_pct
from bot.core.market import MarketSnapshot
from bot.core.models import Band

AGGREGATE_EXCHANGE = "all"
"""The exchange name aggregate snapshots and scores are stored under."""

AGGREGATE_INTERVAL_H = 8.0


@dataclass(frozen=True, slots=True)
class VenuePart:
    """One venue's snapshot of the asset, with its canonical units per venue base unit."""

    venue: str
    units: float
    snapshot: MarketSnapshot


@dataclass(frozen=True, slots=True)
class VenueShare:
    """What one venue contributes: its symbol, share of USD OI, funding (8 h) and basis, in %."""

    venue: str
    symbol: str
    oi_share: float | None
    funding_8h_pct: float | None
    basis_pct: float | None


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The asset over all its venues at one time.

    Attributes:
        snapshot: the summed market, ``exchange`` ``"all"``, ``symbol`` the asset.
        venues: each venue's part, in the order given.
        funding_spread_pct: highest minus lowest 8 h funding across venues, in % points.
        basis_spread_pct: highest minus lowest basis across venues, in % points.
        complete: every venue reported open interest (else the summed OI is left out).
    """

    snapshot: MarketSnapshot
    venues: tuple[VenueShare, ...]
    funding_spread_pct: float | None
    basis_spread_pct: float | None
    complete: bool

    @property
    def missing(self) -> tuple[str, ...]:
        """The venues whose open interest is not in this sum (stale, failed or without OI):
        the aggregate is then partial, and its card names them."""
        return tuple(v.venue for v in self.venues if v.oi_share is None)


def _positive(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None


def _funding_8h(s: MarketSnapshot) -> float | None:
    rate, interval = funding_pct(s.funding_rate), valid_interval(s.funding_interval_h)
    return None if rate is None or interval is None else to_8h_equivalent(rate, interval)


def _weighted(pairs: Sequence[tuple[float | None, float | None]]) -> float | None:
    """The weighted mean of the values whose value and weight are both known."""
    known = [(v, w) for v, w in pairs if v is not None and w is not None]
    total = sum(w for _, w in known)
    return sum(v * w for v, w in known) / total if known and total > 0 else None


def _spread(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) - min(known) if len(known) >= 2 else None


def combine(asset: str, parts: Sequence[VenuePart], ts: datetime) -> Aggregate:
    """Sum one asset's venues into one snapshot at ``ts`` (see the module docstring)."""
    weights = [_positive(p.snapshot.oi_usd) for p in parts]
    base_oi = [_positive(p.snapshot.oi_contracts) for p in parts]
    complete = bool(parts) and all(w is not None for w in weights) and all(b is not None for b in base_oi)
    total_usd = sum(w for w in weights if w is not None)
    funding = [_funding_8h(p.snapshot) for p in parts]
    basis = [basis_pct(p.snapshot.mark_price, p.snapshot.index_price) for p in parts]
    mark = _weighted(
        [
            (None if (m := _positive(p.snapshot.mark_price)) is None else m / p.units, w)
            for p, w in zip(parts, weights, strict=True)
        ]
    )
    last = _weighted(
        [
            (None if (m := _positive(p.snapshot.last_price)) is None else m / p.units, w)
            for p, w in zip(parts, weights, strict=True)
        ]
    )
    funding_8h = _weighted(list(zip(funding, weights, strict=True)))
    basis_mean = _weighted(list(zip(basis, weights, strict=True)))
    index = None if mark is None or basis_mean is None else mark / (1.0 + basis_mean / 100.0)
    volumes = [v for p in parts if (v := _positive(p.snapshot.volume_24h_usd)) is not None]
    next_times = [t for p in parts if (t := p.snapshot.next_funding_time) is not None]
    snapshot = MarketSnapshot(
        exchange=AGGREGATE_EXCHANGE,
        symbol=asset,
        ts=ts,
        oi_contracts=sum(b * p.units for b, p in zip(base_oi, parts, strict=True) if b is not None)
        if complete
        else None,
        oi_usd=total_usd if complete else None,
        mark_price=mark,
        index_price=index,
        last_price=last,
        funding_rate=None if funding_8h is None else funding_8h / 100.0,
        funding_interval_h=None if funding_8h is None else AGGREGATE_INTERVAL_H,
        next_funding_time=min(next_times) if next_times else None,
        volume_24h_usd=sum(volumes) if volumes else None,
    )
    shares = tuple(
        VenueShare(
            venue=p.venue,
            symbol=p.snapshot.symbol,
            oi_share=None if w is None or not total_usd else w / total_usd,
            funding_8h_pct=f,
            basis_pct=b,
        )
        for p, w, f, b in zip(parts, weights, funding, basis, strict=True)
    )
    return Aggregate(snapshot, shares, _spread(funding), _spread(basis), complete)


@dataclass(frozen=True, slots=True)
class LoneStretch:
    """One venue stretched (or worse) while no other venue is: where the leverage sits."""

    venue: str
    band: Band
    oi_share: float | None


def lone_stretch(bands: Sequence[tuple[str, Band, float | None]]) -> LoneStretch | None:
    """The one venue at ``stretched`` or above among ``(venue, band, OI share)``, if only one is.

    A book stretched on one venue only is a different story from the same on all of them:
    the card says so ("stretched on Bybit only, 38 % of OI"). ``None`` with fewer than two
    venues, when none is stretched, or when several are.
    """
    if len(bands) < 2:
        return None
    high = [(venue, band, share) for venue, band, share in bands if band.rank >= Band.STRETCHED.rank]
    if len(high) != 1:
        return None
    venue, band, share = high[0]
    return LoneStretch(venue, band, share)
