"""The Derivatives Pressure Score: inputs in percent → 0–100 score, band, bias, regime.

Formula (``docs/scoring.md`` has the maths, defaults and worked examples)::

    f = tanh(excess_funding_8h / funding_scale)          signed, after a dead band
    b = tanh(excess_basis / basis_scale)                 signed, after a dead band
    P = (wf·|f| + wb·|b|) / (wf + wb)                     positioning pressure, 0..1
    build  = Σ w_h·tanh(max(ΔOI_h, 0) / s_h) / Σ w_h      over present horizons, 0..1
    unwind = Σ w_h·tanh(max(−ΔOI_h, 0) / s_h) / Σ w_h     over present horizons, 0..1
    S = P·(base + g_build·build + g_unwind·unwind) + g_oi·max(build, unwind)
    score = round(100 · (1 − e^(−k·S)) / (1 − e^(−k·S_max)))

Every term is non-negative and non-decreasing in how far its input sits from neutral,
and the saturation is strictly increasing, so the score is monotone in each input and
bounded; using |f| and |b| makes it mirror-symmetric. Only a book with every input at its
extreme reaches 100, so the order holds to the top. Non-finite inputs are treated as
missing. The mark-price move is computed for the regime rules only; it never moves the score.
"""

from __future__ import annotations

import math

from bot.core.bands import band_for
from bot.core.funding import MAX_INTERVAL_H, MIN_INTERVAL_H, annualise_8h, to_8h_equivalent
from bot.core.models import Components, ScoreInputs, ScoreResult
from bot.core.params import DEFAULT_PARAMS, ScoringParams
from bot.core.regimes import REGIME_LABELS, classify


def finite_or_none(value: float | None) -> float | None:
    """Return ``value`` as a float when it is a finite number, else ``None``."""
    if type(value) is float:  # the common case first; float() of a float is the float itself
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class _Derived:
    """What ``components_for`` and ``score`` read of one ``ScoringParams``, worked out once.

    A cycle scores thousands of symbols with one params object: reading a dozen attributes
    of it, summing the weights and walking the horizon objects per symbol cost about a
    third of ``score``. Every value here is computed by the same operations in the same
    order as the formula does per symbol, so the results are bit-identical.
    """

    __slots__ = (
        "annualisation",
        "band_floors",
        "base_gain",
        "baseline",
        "basis_deadband",
        "basis_scale",
        "basis_weight",
        "build_gain",
        "funding_deadband",
        "funding_scale",
        "funding_weight",
        "max_stress",
        "oi_horizons",
        "oi_only_gain",
        "params",
        "price_horizons",
        "price_weight",
        "saturation",
        "saturation_top",
        "unwind_gain",
        "weights",
    )

    def __init__(self, p: ScoringParams) -> None:
        self.params = p
        self.annualisation = p.annualisation_periods_8h
        self.baseline = p.funding_baseline_8h_pct
        self.funding_deadband = p.funding_deadband_pct
        self.funding_scale = p.funding_scale_pct
        self.basis_deadband = p.basis_deadband_pct
        self.basis_scale = p.basis_scale_pct
        self.funding_weight = p.funding_weight
        self.basis_weight = p.basis_weight
        self.weights = p.funding_weight + p.basis_weight
        self.oi_horizons = tuple((h.weight, h.scale_pct) for h in p.horizons)
        self.price_horizons = tuple((h.weight, h.scale_pct) for h in p.price_horizons)
        total = 0.0
        for h in p.price_horizons:  # summed in the order _price_move always summed them
            total += h.weight
        self.price_weight = total
        self.base_gain = p.base_gain
        self.build_gain = p.build_gain
        self.unwind_gain = p.unwind_gain
        self.oi_only_gain = p.oi_only_gain
        self.max_stress = p.max_stress
        self.saturation = p.saturation
        self.saturation_top = -math.expm1(-p.saturation * p.max_stress)
        self.band_floors = p.band_floors


_last: _Derived = _Derived(DEFAULT_PARAMS)


def _derived(p: ScoringParams) -> _Derived:
    """``p``'s derived values; the last params' are kept (a cycle scores with one object).

    Keyed by identity, not by value: hashing a params object costs more than deriving it.
    One slot, replaced whole, so a concurrent caller sees either the old or the new entry.
    """
    global _last
    last = _last
    if last.params is not p:
        last = _last = _Derived(p)
    return last


def _finite_fields(values: tuple[float | None, ...]) -> list[float | None]:
    """``finite_or_none`` of each value; ``v - v == 0.0`` holds for finite floats only, so
    the common case (a finite float) is decided without a call."""
    return [v if type(v) is float and v - v == 0.0 else finite_or_none(v) for v in values]


def components_for(inputs: ScoreInputs, p: ScoringParams = DEFAULT_PARAMS) -> tuple[Components, bool]:
    """Compute the explained components and whether any input was missing.

    Returns:
        (components, partial) — partial is True when any input was missing or unusable.
    """
    return _components(inputs, _derived(p))


def _components(inputs: ScoreInputs, d: _Derived) -> tuple[Components, bool]:
    oi1, oi4, oi24, funding_raw, interval, basis_raw, pr1, pr4, pr24 = _finite_fields(
        (
            inputs.oi_1h_pct,
            inputs.oi_4h_pct,
            inputs.oi_24h_pct,
            inputs.funding_pct,
            inputs.funding_interval_h,
            inputs.basis_pct,
            inputs.price_1h_pct,
            inputs.price_4h_pct,
            inputs.price_24h_pct,
        )
    )
    if interval is not None and not MIN_INTERVAL_H <= interval <= MAX_INTERVAL_H:  # valid_interval
        interval = None

    funding_8h = excess = annualised = None
    f = 0.0
    rate_8h = to_8h_equivalent(funding_raw, interval) if funding_raw is not None and interval else None
    if rate_8h is not None and math.isfinite(rate_8h * d.annualisation):
        funding_8h = rate_8h
        annualised = annualise_8h(funding_8h, d.annualisation)
        excess = funding_8h - d.baseline
        shrunk = math.copysign(max(abs(excess) - d.funding_deadband, 0.0), excess)  # excess_over_baseline
        f = math.tanh(shrunk / d.funding_scale) + 0.0  # + 0.0 turns -0.0 into 0.0
    b = 0.0
    if basis_raw is not None:
        shrunk = math.copysign(max(abs(basis_raw) - d.basis_deadband, 0.0), basis_raw)
        b = math.tanh(shrunk / d.basis_scale) + 0.0

    fw, bw = d.funding_weight, d.basis_weight
    positioning = (fw * abs(f) + bw * abs(b)) / d.weights
    direction = (fw * f + bw * b) / d.weights

    # The OI blend over the present horizons, each in [0, 1]. The three horizons are
    # written out (1h, 4h, 24h: the order the sums always took), not looped over: this
    # runs for every symbol of every cycle.
    build = unwind = total_weight = 0.0
    tanh = math.tanh
    (w1, s1), (w4, s4), (w24, s24) = d.oi_horizons
    # Only one side of a change is non-zero. The other adds weight·tanh(0/scale), +0.0 or
    # -0.0 (ScoringParams accepts only finite weights and scales), which leaves a sum begun
    # at +0.0 as it is: that tanh need not be computed.
    if oi1 is not None:
        total_weight += w1
        if oi1 > 0.0:
            build += w1 * tanh(oi1 / s1)
        elif oi1 < 0.0:
            unwind += w1 * tanh(-oi1 / s1)
    if oi4 is not None:
        total_weight += w4
        if oi4 > 0.0:
            build += w4 * tanh(oi4 / s4)
        elif oi4 < 0.0:
            unwind += w4 * tanh(-oi4 / s4)
    if oi24 is not None:
        total_weight += w24
        if oi24 > 0.0:
            build += w24 * tanh(oi24 / s24)
        elif oi24 < 0.0:
            unwind += w24 * tanh(-oi24 / s24)
    if total_weight <= 0:
        build = unwind = 0.0
    else:
        build, unwind = build / total_weight, unwind / total_weight

    # The price horizons blended into a signed move in [-1, 1]. Unlike OI, a missing
    # horizon counts as no move rather than being renormalised away: a direction is a claim
    # about who trades, and after a cold start (the backfill has OI but no prices) a 0.2 %
    # hour alone must not read as a rising market.
    price_move = None
    if pr1 is not None or pr4 is not None or pr24 is not None:
        (w1, s1), (w4, s4), (w24, s24) = d.price_horizons
        move = 0.0
        if pr1 is not None:
            move += w1 * tanh(pr1 / s1)
        if pr4 is not None:
            move += w4 * tanh(pr4 / s4)
        if pr24 is not None:
            move += w24 * tanh(pr24 / s24)
        if d.price_weight > 0:
            price_move = move / d.price_weight + 0.0

    # Price is optional: without it the regime falls back to funding and basis, so a
    # missing price never makes the score partial.
    partial = oi1 is None or oi4 is None or oi24 is None or funding_8h is None or basis_raw is None
    comps = Components(
        funding_8h_pct=funding_8h,
        funding_excess_pct=excess,
        funding_annualised_pct=annualised,
        funding=f,
        basis=b,
        oi_build=build,
        oi_unwind=unwind,
        positioning=positioning,
        direction=direction,
        price_move=price_move,
    )
    return comps, partial


def stress(c: Components, p: ScoringParams = DEFAULT_PARAMS) -> float:
    """Raw stress S in [0, S_max] from the components (see the module formula)."""
    amplifier = p.base_gain + p.build_gain * c.oi_build + p.unwind_gain * c.oi_unwind
    raw = c.positioning * amplifier + p.oi_only_gain * max(c.oi_build, c.oi_unwind)
    return min(max(raw, 0.0), p.max_stress)


def saturate(raw: float, p: ScoringParams = DEFAULT_PARAMS) -> float:
    """Raw stress → [0, 1], strictly increasing, 1 only at ``S_max``.

    ``1 − e^(−k·S)`` reads stress as the chance of at least one forced-flow event when the
    hazard grows with S: the first units of imbalance matter most, later ones add less but
    always something, so no two different books tie at the top as a hard cap made them.
    """
    return -math.expm1(-p.saturation * raw) / -math.expm1(-p.saturation * p.max_stress)


def score(inputs: ScoreInputs, p: ScoringParams = DEFAULT_PARAMS) -> ScoreResult:
    """Score one symbol. Pure, deterministic, never raises on bad numbers.

    Args:
        inputs: OI changes, funding with its interval, and basis, all in %.
        p: the scoring configuration.

    Returns:
        The score (0–100), band, bias, regime with its label, the partial flag and the
        components behind it.
    """
    d = _derived(p)
    comps, partial = _components(inputs, d)
    # stress() and saturate() with the params' values read once (same operations, same order)
    build, unwind = comps.oi_build, comps.oi_unwind
    amplifier = d.base_gain + d.build_gain * build + d.unwind_gain * unwind
    raw = comps.positioning * amplifier + d.oi_only_gain * max(build, unwind)
    raw = min(max(raw, 0.0), d.max_stress)
    value = min(math.floor(100.0 * (-math.expm1(-d.saturation * raw) / d.saturation_top) + 0.5), 100)
    band = band_for(value, d.band_floors)
    regime, bias = classify(comps, value, band, p)
    return ScoreResult(
        score=value,
        band=band,
        bias=bias,
        regime=regime,
        label=REGIME_LABELS[regime],
        partial=partial,
        components=comps,
    )
