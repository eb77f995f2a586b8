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
from bot.core.funding import annualise_8h, excess_over_baseline, to_8h_equivalent, valid_interval
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


def _shrink(value: float, deadband: float) -> float:
    return math.copysign(max(abs(value) - deadband, 0.0), value)


def _price_move(changes: tuple[float | None, ...], p: ScoringParams) -> float | None:
    """Blend the price horizons into a signed move in [-1, 1]; None without any.

    Unlike OI, a missing horizon counts as no move rather than being renormalised away:
    a direction is a claim about who trades, and after a cold start (the backfill has OI
    but no prices) a 0.2 % hour alone must not read as a rising market.
    """
    move = total_weight = 0.0
    present = False
    for change, horizon in zip(changes, p.price_horizons, strict=True):
        total_weight += horizon.weight  # every horizon's: a missing one counts as no move
        if change is None:
            continue
        present = True
        move += horizon.weight * math.tanh(change / horizon.scale_pct)
    return move / total_weight + 0.0 if present and total_weight > 0 else None


def _oi_measures(changes: tuple[float | None, ...], p: ScoringParams) -> tuple[float, float]:
    """Blend the present OI horizons into (build, unwind), each in [0, 1]."""
    build = unwind = total_weight = 0.0
    for change, horizon in zip(changes, p.horizons, strict=True):
        if change is None:
            continue
        weight, scale = horizon.weight, horizon.scale_pct
        total_weight += weight
        # Only one side of a change is non-zero. The other adds weight·tanh(0/scale), +0.0
        # or -0.0 (ScoringParams accepts only finite weights and scales), which leaves a sum
        # begun at +0.0 as it is: that tanh need not be computed.
        if change > 0.0:
            build += weight * math.tanh(change / scale)
        elif change < 0.0:
            unwind += weight * math.tanh(-change / scale)
    if total_weight <= 0:
        return 0.0, 0.0
    return build / total_weight, unwind / total_weight


def components_for(inputs: ScoreInputs, p: ScoringParams = DEFAULT_PARAMS) -> tuple[Components, bool]:
    """Compute the explained components and whether any input was missing.

    Returns:
        (components, partial) — partial is True when any input was missing or unusable.
    """
    oi = (
        finite_or_none(inputs.oi_1h_pct),
        finite_or_none(inputs.oi_4h_pct),
        finite_or_none(inputs.oi_24h_pct),
    )
    funding_raw = finite_or_none(inputs.funding_pct)
    interval = valid_interval(finite_or_none(inputs.funding_interval_h))
    basis_raw = finite_or_none(inputs.basis_pct)

    funding_8h = excess = annualised = None
    f = 0.0
    rate_8h = to_8h_equivalent(funding_raw, interval) if funding_raw is not None and interval else None
    if rate_8h is not None and math.isfinite(rate_8h * p.annualisation_periods_8h):
        funding_8h = rate_8h
        annualised = annualise_8h(funding_8h, p.annualisation_periods_8h)
        excess = funding_8h - p.funding_baseline_8h_pct
        shrunk = excess_over_baseline(funding_8h, p.funding_baseline_8h_pct, p.funding_deadband_pct)
        f = math.tanh(shrunk / p.funding_scale_pct) + 0.0  # + 0.0 turns -0.0 into 0.0
    b = 0.0
    if basis_raw is not None:
        b = math.tanh(_shrink(basis_raw, p.basis_deadband_pct) / p.basis_scale_pct) + 0.0

    weights = p.funding_weight + p.basis_weight
    positioning = (p.funding_weight * abs(f) + p.basis_weight * abs(b)) / weights
    direction = (p.funding_weight * f + p.basis_weight * b) / weights
    build, unwind = _oi_measures(oi, p)
    prices = (
        finite_or_none(inputs.price_1h_pct),
        finite_or_none(inputs.price_4h_pct),
        finite_or_none(inputs.price_24h_pct),
    )
    # Price is optional: without it the regime falls back to funding and basis, so a
    # missing price never makes the score partial.
    partial = None in oi or funding_8h is None or basis_raw is None
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
        price_move=_price_move(prices, p),
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
    comps, partial = components_for(inputs, p)
    value = min(math.floor(100.0 * saturate(stress(comps, p), p) + 0.5), 100)
    band = band_for(value, p.band_floors)
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
