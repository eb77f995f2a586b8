"""Regime rules: which story the components tell, and which side it is about.

Rules, checked in this order (first match wins; thresholds in ``ScoringParams``):

1. ``balanced`` — the score is in the neutral band.
2. ``long_squeeze_risk`` / ``short_squeeze_risk`` — |funding component| >=
   ``crowded_funding``, the basis component is on the *other* side with magnitude >=
   ``crowded_basis``, OI build >= ``building_threshold``, and the score is at least
   stretched. Bias: the side funding says is crowded (the side at risk).
3. ``long_crowded`` / ``short_crowded`` — |funding component| >= ``crowded_funding``,
   the basis is not against it, OI build >= ``building_threshold``, score at least
   stretched. Bias: the funding side.
4. ``long_unwind`` / ``short_covering`` — OI unwind >= ``unwind_threshold`` and larger
   than the build. Who is closing: price falling means longs selling out (long unwind),
   price rising means shorts buying back (short covering); without a price direction,
   the side the book leans to. No side at all: ``deleveraging``.
5. ``long_bias`` / ``short_bias`` — otherwise, by the sign of the net lean (ties broken
   by funding, then basis). With no lean from funding or basis, OI building with price
   rising is new longs and with price falling new shorts.
6. ``leverage_building`` / ``deleveraging`` — stress from open interest alone, with no
   side to name: neither funding, basis nor price says who. Bias NEUTRAL.
"""

from __future__ import annotations

from bot.core.bands import band_floor
from bot.core.models import Band, Bias, Components, Regime
from bot.core.params import ScoringParams

REGIME_LABELS: dict[Regime, str] = {
    Regime.BALANCED: "Balanced · low derivatives stress",
    Regime.LONG_BIAS: "Net long bias building",
    Regime.SHORT_BIAS: "Net short bias building",
    Regime.LONG_CROWDED: "Long crowded · high funding + premium + rising OI",
    Regime.SHORT_CROWDED: "Short ramp · rising OI + negative funding + discount",
    Regime.LONG_SQUEEZE_RISK: "Long squeeze risk · OI building into a discount against crowded longs",
    Regime.SHORT_SQUEEZE_RISK: "Short squeeze risk · OI building into a premium against crowded shorts",
    Regime.LONG_UNWIND: "Long unwind · OI falling fast, longs closing out",
    Regime.SHORT_COVERING: "Short covering · OI falling fast, shorts buying back",
    Regime.LEVERAGE_BUILDING: "Leverage building · OI rising, no side paying up",
    Regime.DELEVERAGING: "Deleveraging · OI falling, no side paying up",
}

_BY_SIDE: dict[tuple[str, Bias], Regime] = {
    ("squeeze", Bias.LONG): Regime.LONG_SQUEEZE_RISK,
    ("squeeze", Bias.SHORT): Regime.SHORT_SQUEEZE_RISK,
    ("crowded", Bias.LONG): Regime.LONG_CROWDED,
    ("crowded", Bias.SHORT): Regime.SHORT_CROWDED,
    ("unwind", Bias.LONG): Regime.LONG_UNWIND,
    ("unwind", Bias.SHORT): Regime.SHORT_COVERING,
    ("bias", Bias.LONG): Regime.LONG_BIAS,
    ("bias", Bias.SHORT): Regime.SHORT_BIAS,
}


def side_of(value: float) -> Bias:
    """LONG for positive, SHORT for negative, NEUTRAL for zero."""
    if value > 0:
        return Bias.LONG
    if value < 0:
        return Bias.SHORT
    return Bias.NEUTRAL


def net_lean(c: Components, min_positioning: float = 0.0) -> Bias:
    """The side the book leans to: the net direction, ties broken by funding then basis.

    NEUTRAL when the positioning is below ``min_positioning``: a lean that small is within
    a reading's noise and cannot name the side of a book whose stress comes from OI.
    """
    if c.positioning < min_positioning:
        return Bias.NEUTRAL
    for value in (c.direction, c.funding, c.basis):
        side = side_of(value)
        if side is not Bias.NEUTRAL:
            return side
    return Bias.NEUTRAL


def price_side(c: Components, p: ScoringParams) -> Bias:
    """LONG when the blended price move is up beyond the threshold, SHORT when down, else NEUTRAL."""
    move = c.price_move
    if move is None or abs(move) < p.price_direction_threshold:
        return Bias.NEUTRAL
    return side_of(move)


def classify(c: Components, score: int, band: Band, p: ScoringParams) -> tuple[Regime, Bias]:
    """Pick the regime and bias for a scored symbol (rules in the module docstring)."""
    if band is Band.NEUTRAL:
        return Regime.BALANCED, Bias.NEUTRAL
    at_least_stretched = score >= band_floor(Band.STRETCHED, p.band_floors)
    funding_side = side_of(c.funding)
    basis_side = side_of(c.basis)
    building = c.oi_build >= p.building_threshold
    heavy_funding = abs(c.funding) >= p.crowded_funding
    if at_least_stretched and heavy_funding and building:
        if basis_side is funding_side.mirrored() and abs(c.basis) >= p.crowded_basis:
            return _BY_SIDE[("squeeze", funding_side)], funding_side
        if basis_side is not funding_side.mirrored():
            return _BY_SIDE[("crowded", funding_side)], funding_side
    lean = net_lean(c, p.side_min_positioning)
    moving = price_side(c, p)
    if c.oi_unwind >= p.unwind_threshold and c.oi_unwind > c.oi_build:
        # Price says who is closing: a rise is shorts buying back, a fall longs selling out.
        closing = moving.mirrored() if moving is not Bias.NEUTRAL else lean
        if closing is Bias.NEUTRAL:
            return Regime.DELEVERAGING, Bias.NEUTRAL
        return _BY_SIDE[("unwind", closing)], closing
    if lean is not Bias.NEUTRAL:
        return _BY_SIDE[("bias", lean)], lean
    if c.oi_build < c.oi_unwind:
        return Regime.DELEVERAGING, Bias.NEUTRAL
    if moving is not Bias.NEUTRAL and c.oi_build >= p.building_threshold:
        # New positions follow the price: OI up with price up is new longs, with price down new shorts.
        return _BY_SIDE[("bias", moving)], moving
    return Regime.LEVERAGE_BUILDING, Bias.NEUTRAL
