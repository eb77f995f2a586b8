"""``score`` reads its params' values once per params object (``bot.core.scoring._Derived``):
its results must be bit for bit those of the formula computed plainly from the params, as
``score`` computed them before that cache (kept here as the reference)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from bot.core.bands import band_for
from bot.core.funding import annualise_8h, excess_over_baseline, to_8h_equivalent, valid_interval
from bot.core.models import Components, ScoreInputs, ScoreResult
from bot.core.params import DEFAULT_PARAMS, HorizonParams, ScoringParams
from bot.core.regimes import REGIME_LABELS, classify
from bot.core.scoring import components_for, finite_or_none, saturate, score, stress
from tests.strategies import any_inputs, junk_float, maybe

any_price = st.one_of(maybe(st.floats(min_value=-60.0, max_value=300.0)), junk_float)
# The plausible funding intervals' edges, either side, besides any_inputs' own intervals.
edge_interval = st.sampled_from([0.25, 168.0, math.nextafter(0.25, 0.0), math.nextafter(168.0, 200.0), 1, 8])


def _plain_components(inputs: ScoreInputs, p: ScoringParams) -> tuple[Components, bool]:
    oi = [finite_or_none(v) for v in (inputs.oi_1h_pct, inputs.oi_4h_pct, inputs.oi_24h_pct)]
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
        f = math.tanh(shrunk / p.funding_scale_pct) + 0.0
    b = 0.0
    if basis_raw is not None:
        shrunk = math.copysign(max(abs(basis_raw) - p.basis_deadband_pct, 0.0), basis_raw)
        b = math.tanh(shrunk / p.basis_scale_pct) + 0.0
    weights = p.funding_weight + p.basis_weight
    build = unwind = total = 0.0
    for change, h in zip(oi, p.horizons, strict=True):
        if change is None:
            continue
        total += h.weight
        if change > 0.0:
            build += h.weight * math.tanh(change / h.scale_pct)
        elif change < 0.0:
            unwind += h.weight * math.tanh(-change / h.scale_pct)
    build, unwind = (build / total, unwind / total) if total > 0 else (0.0, 0.0)
    prices = [finite_or_none(v) for v in (inputs.price_1h_pct, inputs.price_4h_pct, inputs.price_24h_pct)]
    move = price_weight = 0.0
    present = False
    for change, h in zip(prices, p.price_horizons, strict=True):
        price_weight += h.weight
        if change is not None:
            present = True
            move += h.weight * math.tanh(change / h.scale_pct)
    comps = Components(
        funding_8h_pct=funding_8h,
        funding_excess_pct=excess,
        funding_annualised_pct=annualised,
        funding=f,
        basis=b,
        oi_build=build,
        oi_unwind=unwind,
        positioning=(p.funding_weight * abs(f) + p.basis_weight * abs(b)) / weights,
        direction=(p.funding_weight * f + p.basis_weight * b) / weights,
        price_move=move / price_weight + 0.0 if present and price_weight > 0 else None,
    )
    return comps, None in oi or funding_8h is None or basis_raw is None


def _plain_score(inputs: ScoreInputs, p: ScoringParams) -> ScoreResult:
    comps, partial = _plain_components(inputs, p)
    value = min(math.floor(100.0 * saturate(stress(comps, p), p) + 0.5), 100)
    band = band_for(value, p.band_floors)
    regime, bias = classify(comps, value, band, p)
    return ScoreResult(value, band, bias, regime, REGIME_LABELS[regime], partial, comps)


def _horizons(hours: tuple[int, int, int]) -> st.SearchStrategy[tuple[HorizonParams, ...]]:
    return st.tuples(
        *(st.builds(HorizonParams, st.just(h), st.floats(0.01, 100.0), st.floats(0.0, 5.0)) for h in hours)
    )


params = st.one_of(
    st.just(DEFAULT_PARAMS),
    st.builds(
        ScoringParams,
        funding_baseline_8h_pct=st.floats(-0.05, 0.05),
        funding_deadband_pct=st.floats(0.0, 0.05),
        funding_scale_pct=st.floats(0.001, 1.0),
        basis_deadband_pct=st.floats(0.0, 1.0),
        basis_scale_pct=st.floats(0.01, 5.0),
        funding_weight=st.floats(0.0, 3.0),
        basis_weight=st.floats(0.01, 3.0),
        horizons=_horizons((1, 4, 24)),
        base_gain=st.floats(0.0, 3.0),
        build_gain=st.floats(0.0, 3.0),
        unwind_gain=st.floats(0.0, 3.0),
        oi_only_gain=st.floats(0.01, 3.0),
        saturation=st.floats(0.01, 5.0),
        price_horizons=_horizons((1, 4, 24)),
    ),
)


def _bits(result: ScoreResult) -> str:
    # repr tells -0.0 from 0.0 and prints every float exactly: equal reprs, equal bits.
    return repr(result)


@given(any_inputs, any_price, any_price, any_price, params, st.one_of(st.none(), edge_interval))
def test_score_is_bit_identical_to_the_plain_formula(
    inputs: ScoreInputs,
    h1: float | None,
    h4: float | None,
    h24: float | None,
    p: ScoringParams,
    interval: float | None,
) -> None:
    inputs = ScoreInputs(
        inputs.oi_1h_pct,
        inputs.oi_4h_pct,
        inputs.oi_24h_pct,
        inputs.funding_pct,
        inputs.funding_interval_h if interval is None else interval,
        inputs.basis_pct,
        h1,
        h4,
        h24,
    )
    plain = _plain_score(inputs, p)
    assert _bits(score(inputs, p)) == _bits(plain)
    assert repr(components_for(inputs, p)) == repr(_plain_components(inputs, p))


@given(any_inputs, params, params)
def test_switching_params_objects_never_reuses_the_others_values(
    inputs: ScoreInputs, first: ScoringParams, second: ScoringParams
) -> None:
    # The derived values are kept for the last params object only: alternating between two
    # (and an equal copy of one) must give each its own result every time.
    copy = ScoringParams(**{name: getattr(first, name) for name in first.__slots__})
    for p in (first, second, first, copy, second):
        assert _bits(score(inputs, p)) == _bits(_plain_score(inputs, p))
