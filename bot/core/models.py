"""Immutable records the score is computed from and returns.

All rates and changes are in percent (``0.79`` means +0.79 %). ``None`` means the input is
missing; the score is then computed from what is there and flagged ``partial``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.core.frozen import quick_init


class Band(StrEnum):
    """Stress band, from the seed's "How to read it" legend."""

    NEUTRAL = "neutral"
    LEAN = "lean"
    STRETCHED = "stretched"
    STRESSED = "stressed"

    @property
    def rank(self) -> int:
        """Order of the band, 0 for neutral up to 3 for stressed."""
        return _BAND_RANK[self]

    @staticmethod
    def from_rank(rank: int) -> Band:
        """The band of a given rank (clamped to 0..3)."""
        return _BAND_ORDER[min(max(rank, 0), len(_BAND_ORDER) - 1)]


_BAND_ORDER = (Band.NEUTRAL, Band.LEAN, Band.STRETCHED, Band.STRESSED)
# A dict lookup: ``rank`` is read many times per symbol by the diff engine.
_BAND_RANK = {band: rank for rank, band in enumerate(_BAND_ORDER)}


class Bias(StrEnum):
    """The side that is stacked (for squeeze risk: the side at risk)."""

    LONG = "LONG"
    SHORT = "SHORT"
    NEUTRAL = "NEUTRAL"

    def mirrored(self) -> Bias:
        """The opposite side; NEUTRAL stays NEUTRAL."""
        if self is Bias.LONG:
            return Bias.SHORT
        if self is Bias.SHORT:
            return Bias.LONG
        return Bias.NEUTRAL


class Regime(StrEnum):
    """Stable regime codes; labels live in ``bot.core.regimes``."""

    BALANCED = "balanced"
    LONG_BIAS = "long_bias"
    SHORT_BIAS = "short_bias"
    LONG_CROWDED = "long_crowded"
    SHORT_CROWDED = "short_crowded"
    LONG_SQUEEZE_RISK = "long_squeeze_risk"
    SHORT_SQUEEZE_RISK = "short_squeeze_risk"
    LONG_UNWIND = "long_unwind"
    SHORT_COVERING = "short_covering"
    LEVERAGE_BUILDING = "leverage_building"
    DELEVERAGING = "deleveraging"

    @property
    def is_squeeze_risk(self) -> bool:
        """True for the two squeeze-risk regimes."""
        return self in _SQUEEZE_RISK


# Module constants: reading a member through its Enum class costs a descriptor call, and
# these properties are read for every symbol of every cycle.
_SQUEEZE_RISK = frozenset({Regime.LONG_SQUEEZE_RISK, Regime.SHORT_SQUEEZE_RISK})


@quick_init
@dataclass(frozen=True, slots=True)
class ScoreInputs:
    """Raw inputs for one (exchange, symbol) at one time, in percent.

    Attributes:
        oi_1h_pct / oi_4h_pct / oi_24h_pct: relative change of open interest in
            contracts over the horizon, in %.
        funding_pct: the current funding rate per its own settlement interval, in %.
        funding_interval_h: settlement interval in hours (1, 4, 8 ...).
        basis_pct: mark / index - 1, in %.
        price_1h_pct / price_4h_pct / price_24h_pct: change of the mark price over the
            horizon, in %. Optional: they only decide between regimes (who is opening or
            closing), never the score, and their absence does not make a score partial.
    """

    oi_1h_pct: float | None = None
    oi_4h_pct: float | None = None
    oi_24h_pct: float | None = None
    funding_pct: float | None = None
    funding_interval_h: float | None = 8.0
    basis_pct: float | None = None
    price_1h_pct: float | None = None
    price_4h_pct: float | None = None
    price_24h_pct: float | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Components:
    """Everything the score was built from, so every number can be explained.

    Signed components are in [-1, 1]: positive leans long, negative leans short.

    Attributes:
        funding_8h_pct: funding normalised to an 8h equivalent, in %.
        funding_excess_pct: funding_8h_pct minus the baseline, in %.
        funding_annualised_pct: funding_8h_pct over a year, in %.
        funding: signed funding component.
        basis: signed basis component.
        oi_build: blended OI build measure in [0, 1].
        oi_unwind: blended OI decline measure in [0, 1].
        positioning: unsigned positioning pressure in [0, 1].
        direction: signed net lean in [-1, 1] (funding and basis combined).
        price_move: signed blended mark-price move in [-1, 1], ``None`` without price data.
    """

    funding_8h_pct: float | None
    funding_excess_pct: float | None
    funding_annualised_pct: float | None
    funding: float
    basis: float
    oi_build: float
    oi_unwind: float
    positioning: float
    direction: float
    price_move: float | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class ScoreResult:
    """The score of one symbol: number, band, bias, regime and its explanation."""

    score: int
    band: Band
    bias: Bias
    regime: Regime
    label: str
    partial: bool
    components: Components
