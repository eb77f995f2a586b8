"""Every weight, scale and threshold of the Derivatives Pressure Score, in one place.

Units: all rates, changes and the basis are in **percent** (``0.01`` is 0.01 %), exactly
as traders read them and as the seed dashboard prints them. Funding values are per 8 hours
after normalisation. ``docs/scoring.md`` explains each default and how it was calibrated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields


@dataclass(frozen=True, slots=True)
class HorizonParams:
    """How one open-interest horizon feeds the build and unwind measures.

    Attributes:
        hours: length of the horizon in hours.
        scale_pct: the change (in %) at which this horizon is ~76 % saturated (tanh(1)).
        weight: share of this horizon in the blended OI measure (renormalised over the
            horizons that are present).
    """

    hours: int
    scale_pct: float
    weight: float


HORIZON_HOURS = (1, 4, 24)
"""The horizons of the score's inputs (``ScoreInputs``: 1h, 4h and 24h changes), in order."""


def _default_horizons() -> tuple[HorizonParams, ...]:
    return (
        HorizonParams(hours=1, scale_pct=3.0, weight=0.2),
        HorizonParams(hours=4, scale_pct=8.0, weight=0.3),
        HorizonParams(hours=24, scale_pct=25.0, weight=0.5),
    )


def _default_price_horizons() -> tuple[HorizonParams, ...]:
    # About one typical move of a liquid alt-coin perp over each horizon (a daily sigma of
    # ~5 %, scaled by the square root of time), with the OI horizons' weights.
    return (
        HorizonParams(hours=1, scale_pct=1.0, weight=0.2),
        HorizonParams(hours=4, scale_pct=2.0, weight=0.3),
        HorizonParams(hours=24, scale_pct=5.0, weight=0.5),
    )


@dataclass(frozen=True, slots=True)
class ScoringParams:
    """The complete, documented configuration of the score.

    Attributes:
        funding_baseline_8h_pct: the exchange's neutral funding (Binance's interest
            component, 0.01 % per 8h). Funding is measured as the excess over it.
        funding_deadband_pct: excess funding (per 8h) smaller than this is noise and
            counts as zero, so a symbol paying the baseline is neutral.
        funding_scale_pct: excess funding per 8h at which the funding component reaches
            tanh(1) ~ 0.76.
        basis_deadband_pct: |basis| below this is ordinary mark/index jitter.
        basis_scale_pct: basis beyond the deadband at which the basis component
            reaches tanh(1).
        funding_weight / basis_weight: shares of funding and basis in positioning
            pressure (they are normalised to sum to 1).
        horizons: the OI horizons (1h, 4h, 24h) with their scales and weights.
        base_gain: stress from positioning alone (no OI change).
        build_gain: how much OI building amplifies positioning pressure.
        unwind_gain: how much OI falling amplifies positioning pressure.
        oi_only_gain: stress from OI moves with no positioning lean; leverage building
            or leaving is stress in itself, but OI alone never reaches stretched.
        saturation: how fast raw stress approaches 100 (``score = 100 · (1 −
            e^(−k·S)) / (1 − e^(−k·S_max))``); only a book with every input at its extreme
            reaches 100, so the order holds to the top.
        band_floors: score at which lean, stretched and stressed begin (seed bands).
        crowded_funding: minimum |funding component| for a crowded or squeeze regime.
        crowded_basis: minimum |basis component| for crowded (same side) or squeeze
            (opposite side) regimes.
        building_threshold: minimum OI build measure for "rising OI".
        unwind_threshold: minimum OI unwind measure for "OI falling fast".
        annualisation_periods_8h: 8h periods per year, to show annualised funding.
        price_horizons: the mark-price horizons, blended like OI into a signed move.
        price_direction_threshold: |blended price move| at which price has a direction
            (rising or falling) for the regime rules.
        side_min_positioning: positioning pressure below which funding and basis name no
            side; the side then comes from price, or there is none.
    """

    funding_baseline_8h_pct: float = 0.01
    funding_deadband_pct: float = 0.005
    funding_scale_pct: float = 0.08
    basis_deadband_pct: float = 0.05
    basis_scale_pct: float = 0.6
    funding_weight: float = 0.6
    basis_weight: float = 0.4
    horizons: tuple[HorizonParams, ...] = field(default_factory=_default_horizons)
    base_gain: float = 0.5
    build_gain: float = 2.0
    unwind_gain: float = 0.8
    oi_only_gain: float = 0.25
    saturation: float = 1.5
    band_floors: tuple[int, int, int] = (15, 35, 60)
    crowded_funding: float = 0.5
    crowded_basis: float = 0.15
    building_threshold: float = 0.12
    unwind_threshold: float = 0.35
    annualisation_periods_8h: float = 3 * 365
    price_horizons: tuple[HorizonParams, ...] = field(default_factory=_default_price_horizons)
    price_direction_threshold: float = 0.15
    side_min_positioning: float = 0.1

    @property
    def max_stress(self) -> float:
        """The largest raw stress any inputs can produce (every component at its extreme)."""
        return self.base_gain + self.build_gain + self.unwind_gain + self.oi_only_gain

    def __post_init__(self) -> None:
        # NaN passes no comparison and inf passes every one: either would score every symbol
        # NaN or 0 without an error, so only finite numbers are accepted.
        numbers = [(f.name, getattr(self, f.name)) for f in fields(self) if f.type in ("float", float)]
        numbers += [
            (f"{name}[{i}].{attr}", getattr(h, attr))
            for name, horizons in (("horizons", self.horizons), ("price_horizons", self.price_horizons))
            for i, h in enumerate(horizons)
            for attr in ("scale_pct", "weight")
        ]
        for name, value in numbers:
            if not math.isfinite(value):
                raise ValueError(f"ScoringParams.{name} must be a finite number, got {value!r}")
        positive = {
            "funding_scale_pct": self.funding_scale_pct,
            "basis_scale_pct": self.basis_scale_pct,
            "funding_weight + basis_weight": self.funding_weight + self.basis_weight,
            "saturation": self.saturation,
            "base_gain + build_gain + unwind_gain + oi_only_gain": self.max_stress,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"ScoringParams.{name} must be > 0, got {value!r}")
        nonneg = {
            "funding_deadband_pct": self.funding_deadband_pct,
            "basis_deadband_pct": self.basis_deadband_pct,
            "funding_weight": self.funding_weight,
            "basis_weight": self.basis_weight,
            "base_gain": self.base_gain,
            "build_gain": self.build_gain,
            "unwind_gain": self.unwind_gain,
            "oi_only_gain": self.oi_only_gain,
        }
        for name, value in nonneg.items():
            if not value >= 0:
                raise ValueError(f"ScoringParams.{name} must be >= 0, got {value!r}")
        for name, horizons in (("horizons", self.horizons), ("price_horizons", self.price_horizons)):
            if not horizons or any(h.scale_pct <= 0 or h.weight < 0 for h in horizons):
                raise ValueError(f"ScoringParams.{name} need positive scales and weights >= 0")
            # The score's inputs are the 1h, 4h and 24h changes: other horizons could only
            # fail at the first score, or weigh a change under another horizon's name.
            hours = tuple(h.hours for h in horizons)
            if hours != HORIZON_HOURS:
                raise ValueError(
                    f"ScoringParams.{name} must be the 1h, 4h and 24h horizons in that order, got {hours}"
                )
        if not 0 <= self.side_min_positioning < 1:
            raise ValueError("ScoringParams.side_min_positioning must be in [0, 1)")
        if not 0 <= self.price_direction_threshold < 1:
            raise ValueError("ScoringParams.price_direction_threshold must be in [0, 1)")
        lean, stretched, stressed = self.band_floors
        if not 0 < lean < stretched < stressed <= 100:
            raise ValueError(f"ScoringParams.band_floors must rise within 1..100: {self.band_floors}")


DEFAULT_PARAMS = ScoringParams()
