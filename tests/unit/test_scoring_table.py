"""Table tests: each regime from realistic inputs, each rule in isolation, each band edge."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.bands import band_for, band_range, legend_lines
from bot.core.models import Band, Bias, Components, Regime, ScoreInputs
from bot.core.params import DEFAULT_PARAMS, ScoringParams
from bot.core.regimes import REGIME_LABELS, classify
from bot.core.scoring import score

I = ScoreInputs  # noqa: E741 - keeps the table readable

# (name, inputs in %: oi 1h, 4h, 24h, funding per interval, interval h, basis) -> regime, bias
REGIME_CASES = [
    ("quiet book", I(0.1, 0.2, 1.0, 0.01, 8, 0.02), Regime.BALANCED, Bias.NEUTRAL),
    ("longs leaning", I(0.2, 0.5, 2.0, 0.04, 8, 0.3), Regime.LONG_BIAS, Bias.LONG),
    ("shorts leaning", I(0.2, 0.5, 2.0, -0.01, 8, -0.3), Regime.SHORT_BIAS, Bias.SHORT),
    ("high funding, premium, OI up", I(1.0, 4.0, 20.0, 0.08, 8, 0.3), Regime.LONG_CROWDED, Bias.LONG),
    (
        "negative funding, discount, OI up",
        I(1.0, 4.0, 20.0, -0.06, 8, -0.3),
        Regime.SHORT_CROWDED,
        Bias.SHORT,
    ),
    (
        "crowded longs, OI into a discount",
        I(1.0, 4.0, 20.0, 0.08, 8, -0.4),
        Regime.LONG_SQUEEZE_RISK,
        Bias.LONG,
    ),
    (
        "crowded shorts, OI into a premium",
        I(1.0, 4.0, 20.0, -0.06, 8, 0.4),
        Regime.SHORT_SQUEEZE_RISK,
        Bias.SHORT,
    ),
    ("longs deleveraging", I(-3.0, -8.0, -20.0, 0.05, 8, 0.2), Regime.LONG_UNWIND, Bias.LONG),
    ("shorts covering", I(-3.0, -8.0, -20.0, -0.03, 8, -0.2), Regime.SHORT_COVERING, Bias.SHORT),
]


@pytest.mark.parametrize(("name", "inputs", "regime", "bias"), REGIME_CASES, ids=[c[0] for c in REGIME_CASES])
def test_each_regime_from_realistic_inputs(
    name: str, inputs: ScoreInputs, regime: Regime, bias: Bias
) -> None:
    result = score(inputs)
    assert (result.regime, result.bias) == (regime, bias), result
    assert result.label == REGIME_LABELS[regime]
    assert not result.partial


def test_every_regime_is_covered_by_the_table() -> None:
    assert {case[2] for case in REGIME_CASES} == set(Regime)


def _components(**kw: float) -> Components:
    base = dict(
        funding_8h_pct=0.01,
        funding_excess_pct=0.0,
        funding_annualised_pct=10.95,
        funding=0.0,
        basis=0.0,
        oi_build=0.0,
        oi_unwind=0.0,
        positioning=0.0,
        direction=0.0,
    )
    base.update(kw)
    return Components(**base)  # type: ignore[arg-type]


P = DEFAULT_PARAMS
RULE_CASES = [
    # squeeze needs: heavy funding, basis against it, OI building, score >= stretched
    (
        "squeeze",
        dict(funding=0.6, basis=-0.2, oi_build=0.2, direction=0.3),
        40,
        (Regime.LONG_SQUEEZE_RISK, Bias.LONG),
    ),
    (
        "squeeze below stretched is not called",
        dict(funding=0.6, basis=-0.2, oi_build=0.2, direction=0.3),
        34,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "squeeze needs material discount",
        dict(funding=0.6, basis=-0.1, oi_build=0.2, direction=0.3),
        40,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "squeeze needs OI building",
        dict(funding=0.6, basis=-0.2, oi_build=0.1, direction=0.3),
        40,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "crowded with flat basis",
        dict(funding=-0.6, basis=0.0, oi_build=0.2, direction=-0.36),
        40,
        (Regime.SHORT_CROWDED, Bias.SHORT),
    ),
    (
        "crowded needs heavy funding",
        dict(funding=-0.49, basis=-0.9, oi_build=0.5, direction=-0.65),
        70,
        (Regime.SHORT_BIAS, Bias.SHORT),
    ),
    (
        "unwind",
        dict(funding=0.3, basis=0.1, oi_unwind=0.4, direction=0.22),
        30,
        (Regime.LONG_UNWIND, Bias.LONG),
    ),
    (
        "unwind must beat the build",
        dict(funding=0.3, oi_unwind=0.4, oi_build=0.4, direction=0.18),
        30,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "tie in direction goes to funding",
        dict(funding=0.4, basis=-0.6, direction=0.0),
        20,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "neutral band is balanced whatever the lean",
        dict(funding=0.9, direction=0.9),
        14,
        (Regime.BALANCED, Bias.NEUTRAL),
    ),
]


@pytest.mark.parametrize(("name", "comps", "value", "expected"), RULE_CASES, ids=[c[0] for c in RULE_CASES])
def test_regime_rules(name: str, comps: dict[str, float], value: int, expected: tuple[Regime, Bias]) -> None:
    band = band_for(value, P.band_floors)
    assert classify(_components(**comps), value, band, P) == expected


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0, Band.NEUTRAL),
        (14, Band.NEUTRAL),
        (15, Band.LEAN),
        (34, Band.LEAN),
        (35, Band.STRETCHED),
        (59, Band.STRETCHED),
        (60, Band.STRESSED),
        (100, Band.STRESSED),
    ],
)
def test_band_edges(value: int, band: Band) -> None:
    assert band_for(value, P.band_floors) is band


def test_legend_matches_the_seed() -> None:
    assert legend_lines(P.band_floors) == [
        "0-14 neutral: derivatives look balanced, no particular stress",
        "15-34 lean: one side is building positions, unlikely to squeeze",
        "35-59 stretched: meaningful imbalance, watch for volatility",
        "60-100 stressed: crowded positioning, squeeze or unwind risk",
    ]
    assert band_range(Band.STRESSED, P.band_floors) == (60, 100)


def test_missing_horizon_scores_from_what_is_there() -> None:
    full = score(I(1.0, 4.0, 20.0, 0.08, 8, 0.3))
    no_4h = score(I(1.0, None, 20.0, 0.08, 8, 0.3))
    assert no_4h.partial and not full.partial
    assert no_4h.band is Band.STRESSED


def test_nothing_known_is_a_partial_zero() -> None:
    result = score(I(None, None, None, None, None, None))
    assert (result.score, result.regime, result.partial) == (0, Regime.BALANCED, True)


def test_funding_is_shown_raw_8h_and_annualised() -> None:
    comps = score(I(0, 0, 0, 0.02, 4, 0)).components
    assert comps.funding_8h_pct == pytest.approx(0.04)
    assert comps.funding_excess_pct == pytest.approx(0.03)
    assert comps.funding_annualised_pct == pytest.approx(0.04 * 3 * 365)


@pytest.mark.parametrize(
    "change",
    [dict(funding_scale_pct=0.0), dict(band_floors=(35, 15, 60)), dict(base_gain=-1.0), dict(horizons=())],
)
def test_params_reject_nonsense(change: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="ScoringParams"):
        dataclasses.replace(ScoringParams(), **change)  # type: ignore[arg-type]
