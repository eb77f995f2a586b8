"""Market snapshot + OI changes → the score's inputs, in percent.

The snapshot speaks the exchange's units (funding as a fraction per interval, prices in
USDT); the scoring core speaks percent. This is the one place that converts.
"""

from __future__ import annotations

import math

from bot.core.market import MarketSnapshot
from bot.core.models import ScoreInputs
from bot.core.oi_deltas import OiChanges


def _finite(value: float | None) -> float | None:
    if type(value) is float:  # the common case first; float() of a float is the float itself
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) else None


def funding_pct(rate_fraction: float | None) -> float | None:
    """Funding per interval as a fraction (``0.0001``) → percent (``0.01``); junk → None."""
    rate = _finite(rate_fraction)
    return None if rate is None else rate * 100.0


def basis_pct(mark_price: float | None, index_price: float | None) -> float | None:
    """Perp premium over the index: ``(mark / index - 1) * 100``, in %.

    Args:
        mark_price: the perpetual's mark price (USDT).
        index_price: the spot index price (USDT).

    Returns:
        The basis in % (``+0.47`` is a 0.47 % premium), or ``None`` when either price is
        missing, not finite, or not positive (a zero index is an exchange glitch, not an
        infinite premium).
    """
    mark, index = _finite(mark_price), _finite(index_price)
    if mark is None or index is None or mark <= 0 or index <= 0:
        return None
    basis = (mark / index - 1.0) * 100.0
    return basis if math.isfinite(basis) else None


def inputs_from_snapshot(
    snapshot: MarketSnapshot, oi: OiChanges, price: OiChanges | None = None
) -> ScoreInputs:
    """Build the score's inputs (percent units) from one snapshot and its OI changes.

    The funding interval is passed through untouched: a missing or implausible interval
    is the scoring core's to treat (it drops funding and flags the score partial), so the
    rule lives in one place.

    Args:
        snapshot: the symbol's latest market snapshot.
        oi: OI changes over 1h / 4h / 24h in %, from ``bot.core.oi_deltas.oi_changes``.
        price: mark-price changes over the same horizons in % (same function over the
            mark-price series), or ``None`` when no price history is at hand.

    Returns:
        ``ScoreInputs`` with funding and basis in % and the OI changes as given.
    """
    # The common case (finite floats) decided here, the rest by funding_pct and basis_pct:
    # a cycle converts thousands of snapshots. ``x - x == 0.0`` holds for finite x only.
    rate, mark, index = snapshot.funding_rate, snapshot.mark_price, snapshot.index_price
    funding = rate * 100.0 if type(rate) is float and rate - rate == 0.0 else funding_pct(rate)
    if type(mark) is float and type(index) is float and mark - mark == 0.0 and index - index == 0.0:
        basis: float | None = None
        if mark > 0 and index > 0:
            basis = (mark / index - 1.0) * 100.0
            if basis - basis != 0.0:  # overflowed
                basis = None
    else:
        basis = basis_pct(mark, index)
    return ScoreInputs(
        oi_1h_pct=oi.h1_pct,
        oi_4h_pct=oi.h4_pct,
        oi_24h_pct=oi.h24_pct,
        funding_pct=funding,
        funding_interval_h=snapshot.funding_interval_h,
        basis_pct=basis,
        price_1h_pct=None if price is None else price.h1_pct,
        price_4h_pct=None if price is None else price.h4_pct,
        price_24h_pct=None if price is None else price.h24_pct,
    )
