"""Property-based tests of the scoring core (PRODUCT.md "Properties")."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.core.bands import band_floor
from bot.core.funding import valid_interval
from bot.core.models import Band, Bias, Regime, ScoreInputs
from bot.core.params import DEFAULT_PARAMS, HorizonParams, ScoringParams
from bot.core.scoring import components_for, score
from tests.strategies import any_inputs, basis, complete_inputs, funding, interval, maybe, oi_change

BASELINE = DEFAULT_PARAMS.funding_baseline_8h_pct
STRETCHED = band_floor(Band.STRETCHED, DEFAULT_PARAMS.band_floors)
STRESSED = band_floor(Band.STRESSED, DEFAULT_PARAMS.band_floors)
MIRRORED_REGIME = {
    Regime.BALANCED: Regime.BALANCED,
    Regime.LONG_BIAS: Regime.SHORT_BIAS,
    Regime.SHORT_BIAS: Regime.LONG_BIAS,
    Regime.LONG_CROWDED: Regime.SHORT_CROWDED,
    Regime.SHORT_CROWDED: Regime.LONG_CROWDED,
    Regime.LONG_SQUEEZE_RISK: Regime.SHORT_SQUEEZE_RISK,
    Regime.SHORT_SQUEEZE_RISK: Regime.LONG_SQUEEZE_RISK,
    Regime.LONG_UNWIND: Regime.SHORT_COVERING,
    Regime.SHORT_COVERING: Regime.LONG_UNWIND,
    Regime.LEVERAGE_BUILDING: Regime.LEVERAGE_BUILDING,
    Regime.DELEVERAGING: Regime.DELEVERAGING,
}
OI_ONLY = (Regime.LEVERAGE_BUILDING, Regime.DELEVERAGING)
# Mark-price changes in %: realistic moves, and the junk the core must survive.
price_change = st.floats(min_value=-60.0, max_value=300.0)
any_price = st.one_of(maybe(price_change), st.floats(allow_nan=True, allow_infinity=True))


def mirror(inputs: ScoreInputs) -> ScoreInputs:
    """Flip the sign of funding (around its baseline) and of the basis."""
    f = inputs.funding_pct
    if f is not None and inputs.funding_interval_h:
        # Reflect the 8h-equivalent around the baseline, then back to the symbol's interval.
        per_interval_baseline = BASELINE * inputs.funding_interval_h / 8.0
        f = 2 * per_interval_baseline - f
    b = -inputs.basis_pct if inputs.basis_pct is not None else None
    return dataclasses.replace(inputs, funding_pct=f, basis_pct=b)


@given(any_inputs)
def test_bounded_and_never_nan_for_any_input(inputs: ScoreInputs) -> None:
    result = score(inputs)
    assert 0 <= result.score <= 100
    assert isinstance(result.score, int)
    for value in dataclasses.astuple(result.components):
        assert value is None or math.isfinite(value)


@given(any_inputs)
def test_missing_or_junk_inputs_are_flagged_partial(inputs: ScoreInputs) -> None:
    def usable(v: float | None) -> bool:
        return v is not None and math.isfinite(v)

    interval_h = valid_interval(inputs.funding_interval_h)
    funding_ok = (
        usable(inputs.funding_pct)
        and interval_h is not None
        and math.isfinite((inputs.funding_pct or 0.0) * 8.0 / interval_h * 3 * 365)
    )
    oi_and_basis = (inputs.oi_1h_pct, inputs.oi_4h_pct, inputs.oi_24h_pct, inputs.basis_pct)
    complete = funding_ok and all(usable(v) for v in oi_and_basis)
    assert score(inputs).partial is (not complete)


@given(complete_inputs)
def test_deterministic(inputs: ScoreInputs) -> None:
    assert score(inputs) == score(inputs)


@given(complete_inputs)
def test_mirror_symmetric(inputs: ScoreInputs) -> None:
    original, flipped = score(inputs), score(mirror(inputs))
    assert flipped.score == original.score
    assert flipped.band is original.band
    assert flipped.bias is original.bias.mirrored()
    assert flipped.regime is MIRRORED_REGIME[original.regime]


def _further(value: float, neutral: float, step: float) -> float:
    """Move ``value`` ``step`` further away from ``neutral`` in the direction it already points."""
    return value + step if value >= neutral else value - step


@given(complete_inputs, st.floats(min_value=0.0, max_value=2.0))
def test_monotone_in_funding(inputs: ScoreInputs, step: float) -> None:
    assert inputs.funding_pct is not None and inputs.funding_interval_h is not None
    neutral = BASELINE * inputs.funding_interval_h / 8.0
    more = dataclasses.replace(inputs, funding_pct=_further(inputs.funding_pct, neutral, step))
    assert score(more).score >= score(inputs).score


@given(complete_inputs, st.floats(min_value=0.0, max_value=5.0))
def test_monotone_in_basis(inputs: ScoreInputs, step: float) -> None:
    assert inputs.basis_pct is not None
    more = dataclasses.replace(inputs, basis_pct=_further(inputs.basis_pct, 0.0, step))
    assert score(more).score >= score(inputs).score


@given(complete_inputs, st.sampled_from(["oi_1h_pct", "oi_4h_pct", "oi_24h_pct"]), st.floats(0.0, 100.0))
def test_monotone_in_each_oi_horizon(inputs: ScoreInputs, field: str, step: float) -> None:
    value = getattr(inputs, field)
    moved = _further(value, 0.0, step)
    assume(moved > -100.0)  # OI cannot fall by more than all of it
    more = dataclasses.replace(inputs, **{field: moved})
    assert score(more).score >= score(inputs).score


@given(
    oi_1h=maybe(oi_change),
    oi_4h=maybe(oi_change),
    oi_24h=st.floats(min_value=33.34, max_value=500.0),
    funding_8h=st.floats(min_value=0.1001, max_value=3.0),
    basis_pct=st.floats(min_value=0.0, max_value=10.0),
    interval_h=interval,
    side=st.sampled_from([1, -1]),
)
def test_textbook_crowded_book_is_stressed_on_either_side(
    oi_1h: float | None,
    oi_4h: float | None,
    oi_24h: float,
    funding_8h: float,
    basis_pct: float,
    interval_h: float,
    side: int,
) -> None:
    inputs = ScoreInputs(
        oi_1h_pct=oi_1h,
        oi_4h_pct=oi_4h,
        oi_24h_pct=oi_24h,
        funding_pct=side * funding_8h * interval_h / 8.0,
        funding_interval_h=interval_h,
        basis_pct=side * basis_pct,
    )
    result = score(inputs)
    assert result.band is Band.STRESSED, result
    assert result.bias is (Bias.LONG if side > 0 else Bias.SHORT)


@given(any_inputs)
def test_squeeze_risk_is_never_below_stretched(inputs: ScoreInputs) -> None:
    result = score(inputs)
    if result.regime.is_squeeze_risk:
        assert result.score >= STRETCHED


@given(any_inputs)
def test_neutral_band_means_balanced_and_neutral_bias(inputs: ScoreInputs) -> None:
    result = score(inputs)
    if result.band is Band.NEUTRAL:
        assert (result.regime, result.bias) == (Regime.BALANCED, Bias.NEUTRAL)
    elif result.bias is Bias.NEUTRAL:
        # Above neutral, no side only when open interest alone carries the stress.
        assert result.regime in (Regime.LEVERAGE_BUILDING, Regime.DELEVERAGING), result
        # Funding and basis too weak to name a side (rule: side_min_positioning).
        assert result.components.positioning < DEFAULT_PARAMS.side_min_positioning, result


@given(oi=maybe(oi_change), b=maybe(basis))
def test_half_basis_point_on_a_4h_symbol_is_baseline(oi: float | None, b: float | None) -> None:
    on_4h = score(ScoreInputs(oi, oi, oi, funding_pct=0.005, funding_interval_h=4.0, basis_pct=b))
    at_baseline = score(ScoreInputs(oi, oi, oi, funding_pct=0.01, funding_interval_h=8.0, basis_pct=b))
    assert on_4h.components.funding == 0.0
    assert on_4h.components.funding_8h_pct is not None
    assert math.isclose(on_4h.components.funding_8h_pct, 0.01)
    assert on_4h.score == at_baseline.score


@given(funding)
def test_funding_interval_normalisation_is_linear(rate: float) -> None:
    per_1h = score(ScoreInputs(funding_pct=rate / 8.0, funding_interval_h=1.0))
    per_8h = score(ScoreInputs(funding_pct=rate, funding_interval_h=8.0))
    assert per_1h.components.funding_8h_pct is not None
    assert per_8h.components.funding_8h_pct is not None
    assert math.isclose(per_1h.components.funding_8h_pct, per_8h.components.funding_8h_pct, abs_tol=1e-12)
    assert per_1h.score == per_8h.score


def _with_price(inputs: ScoreInputs, h1: float | None, h4: float | None, h24: float | None) -> ScoreInputs:
    return dataclasses.replace(inputs, price_1h_pct=h1, price_4h_pct=h4, price_24h_pct=h24)


@given(any_inputs, any_price, any_price, any_price)
def test_price_names_the_regime_never_the_score(
    inputs: ScoreInputs, h1: float | None, h4: float | None, h24: float | None
) -> None:
    without = score(_with_price(inputs, None, None, None))
    result = score(_with_price(inputs, h1, h4, h24))
    assert (result.score, result.band, result.partial) == (without.score, without.band, without.partial)
    assert dataclasses.replace(result.components, price_move=None) == without.components
    # No side only in the neutral band, or when open interest alone carries the stress.
    no_side = result.band is Band.NEUTRAL or result.regime in OI_ONLY
    assert (result.bias is Bias.NEUTRAL) is no_side, result


@given(complete_inputs, price_change, price_change, price_change)
def test_mirror_symmetric_with_price(inputs: ScoreInputs, h1: float, h4: float, h24: float) -> None:
    original = score(_with_price(inputs, h1, h4, h24))
    flipped = score(_with_price(mirror(inputs), -h1, -h4, -h24))
    assert flipped.score == original.score
    assert flipped.bias is original.bias.mirrored()
    assert flipped.regime is MIRRORED_REGIME[original.regime]


def _blend(changes: list[float | None], side: float, p: ScoringParams = DEFAULT_PARAMS) -> float:
    """The OI measure of the module formula, term by term over the present horizons."""
    total = part = 0.0
    for change, horizon in zip(changes, p.horizons, strict=True):
        if change is not None:
            total += horizon.weight
            part += horizon.weight * math.tanh(max(side * change, 0.0) / horizon.scale_pct)
    return part / total if total > 0 else 0.0


signed_zero_or_change = st.one_of(st.sampled_from([0.0, -0.0]), oi_change)


@given(any_inputs, maybe(signed_zero_or_change), maybe(signed_zero_or_change), maybe(signed_zero_or_change))
def test_oi_build_and_unwind_are_the_formulas_bits(
    inputs: ScoreInputs, h1: float | None, h4: float | None, h24: float | None
) -> None:
    # The score adds each change's tanh on its own side only: the other side's tanh(0) must
    # not have moved a bit (a signed zero included).
    comps = score(dataclasses.replace(inputs, oi_1h_pct=h1, oi_4h_pct=h4, oi_24h_pct=h24)).components
    assert comps.oi_build.hex() == _blend([h1, h4, h24], 1.0).hex()
    assert comps.oi_unwind.hex() == _blend([h1, h4, h24], -1.0).hex()


# Finite but extreme: a weight or scale at the edge of the floats (tanh of a subnormal, a
# product that overflows) must still give the formula's bits on the fast path.
ODD_HORIZONS = [
    (HorizonParams(1, 3.0, 1e308), HorizonParams(4, 8.0, 0.3), HorizonParams(24, 25.0, 0.5)),
    (HorizonParams(1, 3.0, 0.2), HorizonParams(4, 5e-324, 0.3), HorizonParams(24, 25.0, 0.5)),
    (HorizonParams(1, 1e308, 0.2), HorizonParams(4, 8.0, 0.0), HorizonParams(24, 25.0, 5e-324)),
]
NON_FINITE_HORIZONS = [
    (HorizonParams(1, 3.0, math.inf), HorizonParams(4, 8.0, 0.3), HorizonParams(24, 25.0, 0.5)),
    (HorizonParams(1, 3.0, 0.2), HorizonParams(4, math.nan, 0.3), HorizonParams(24, 25.0, 0.5)),
    (HorizonParams(1, math.inf, 0.2), HorizonParams(4, 8.0, 0.0), HorizonParams(24, 25.0, 0.5)),
]


@pytest.mark.parametrize("horizons", ODD_HORIZONS)
@pytest.mark.parametrize("changes", [[1.5, -2.0, 0.0], [-0.0, 3.0, -4.0], [None, -1.0, 2.0]])
def test_odd_weights_and_scales_still_give_the_formulas_bits(
    horizons: tuple[HorizonParams, ...], changes: list[float | None]
) -> None:
    p = ScoringParams(horizons=horizons)
    inputs = ScoreInputs(oi_1h_pct=changes[0], oi_4h_pct=changes[1], oi_24h_pct=changes[2])
    comps, _ = components_for(inputs, p)
    assert comps.oi_build.hex() == _blend(changes, 1.0, p).hex()
    assert comps.oi_unwind.hex() == _blend(changes, -1.0, p).hex()


@pytest.mark.parametrize("horizons", NON_FINITE_HORIZONS)
def test_weights_and_scales_that_are_not_finite_are_refused(horizons: tuple[HorizonParams, ...]) -> None:
    # An infinite weight or a scale that is not a number would turn tanh(0) terms into NaN
    # and every score with them: such a configuration never gets as far as scoring.
    with pytest.raises(ValueError, match="must be a finite number"):
        ScoringParams(horizons=horizons)
