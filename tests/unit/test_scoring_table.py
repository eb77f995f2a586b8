"""Table tests: each regime from realistic inputs, each rule in isolation, each band edge."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bot.core.bands import band_for, band_range, legend_lines
from bot.core.models import Band, Bias, Components, Regime, ScoreInputs
from bot.core.params import DEFAULT_PARAMS, ScoringParams
from bot.core.regimes import REGIME_LABELS, classify
from bot.core.scoring import score

I = ScoreInputs  # noqa: E741 - keeps the table readable

# (name, inputs in %: oi 1h, 4h, 24h, funding per interval, interval h, basis[, mark price
# 1h, 4h, 24h]) -> regime, bias
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
    # Open interest alone: +20 %/day at the baseline funding, no premium, no price to say who.
    (
        "leverage piling in, no side paying",
        I(1.5, 5.0, 20.0, 0.01, 8, 0.01),
        Regime.LEVERAGE_BUILDING,
        Bias.NEUTRAL,
    ),
    (
        "leverage leaving, no side paying",
        I(-3.0, -8.0, -20.0, 0.01, 8, 0.0),
        Regime.DELEVERAGING,
        Bias.NEUTRAL,
    ),
    # The mark price says who is closing, whatever funding and basis lean to.
    (
        "OI falling, price rising, longs still paying",
        I(-3.0, -8.0, -20.0, 0.05, 8, 0.2, 1.5, 4.0, 8.0),
        Regime.SHORT_COVERING,
        Bias.SHORT,
    ),
    (
        "OI falling, price falling, shorts still paying",
        I(-3.0, -8.0, -20.0, -0.03, 8, -0.2, -1.5, -4.0, -8.0),
        Regime.LONG_UNWIND,
        Bias.LONG,
    ),
    (
        "OI falling with price, longs paying",
        I(-3.0, -8.0, -20.0, 0.05, 8, 0.2, -1.0, -3.0, -6.0),
        Regime.LONG_UNWIND,
        Bias.LONG,
    ),
    (
        "OI falling, price rising, nobody paying",
        I(-3.0, -8.0, -20.0, 0.01, 8, 0.0, 1.0, 3.0, 6.0),
        Regime.SHORT_COVERING,
        Bias.SHORT,
    ),
    # With no lean from funding or basis, new positions follow the price.
    (
        "OI up, price up: new longs",
        I(1.5, 5.0, 20.0, 0.01, 8, 0.01, 1.0, 3.0, 6.0),
        Regime.LONG_BIAS,
        Bias.LONG,
    ),
    (
        "OI up, price down: new shorts",
        I(1.5, 5.0, 20.0, 0.01, 8, 0.01, -1.0, -3.0, -6.0),
        Regime.SHORT_BIAS,
        Bias.SHORT,
    ),
    # A flat price (a blended move under the threshold) falls back to funding and basis.
    (
        "OI falling, flat price, longs paying",
        I(-3.0, -8.0, -20.0, 0.05, 8, 0.2, 0.05, 0.1, 0.3),
        Regime.LONG_UNWIND,
        Bias.LONG,
    ),
    (
        "OI up, flat price, no side paying",
        I(1.5, 5.0, 20.0, 0.01, 8, 0.01, -0.05, -0.1, -0.3),
        Regime.LEVERAGE_BUILDING,
        Bias.NEUTRAL,
    ),
    # Price only decides between openers and closers: a crowded book stays crowded.
    (
        "crowded longs while price falls",
        I(1.0, 4.0, 20.0, 0.08, 8, 0.3, -1.0, -3.0, -6.0),
        Regime.LONG_CROWDED,
        Bias.LONG,
    ),
]

NO_PRICE = dict(price_1h_pct=None, price_4h_pct=None, price_24h_pct=None)


@pytest.mark.parametrize(("name", "inputs", "regime", "bias"), REGIME_CASES, ids=[c[0] for c in REGIME_CASES])
def test_each_regime_from_realistic_inputs(
    name: str, inputs: ScoreInputs, regime: Regime, bias: Bias
) -> None:
    result = score(inputs)
    assert (result.regime, result.bias) == (regime, bias), result
    assert result.label == REGIME_LABELS[regime]
    assert not result.partial
    # Price names the regime, never the score.
    assert score(dataclasses.replace(inputs, **NO_PRICE)).score == result.score


def test_every_regime_is_covered_by_the_table() -> None:
    assert {case[2] for case in REGIME_CASES} == set(Regime)


def _components(**kw: float) -> Components:
    """Components as given; positioning, unless given, as the score derives it from f and b."""
    base = dict(
        funding_8h_pct=0.01,
        funding_excess_pct=0.0,
        funding_annualised_pct=10.95,
        funding=0.0,
        basis=0.0,
        oi_build=0.0,
        oi_unwind=0.0,
        direction=0.0,
    )
    base.update(kw)
    if "positioning" not in kw:
        weights = DEFAULT_PARAMS.funding_weight + DEFAULT_PARAMS.basis_weight
        pressure = DEFAULT_PARAMS.funding_weight * abs(base["funding"]) + DEFAULT_PARAMS.basis_weight * abs(
            base["basis"]
        )
        base["positioning"] = pressure / weights
    return Components(**base)  # type: ignore[arg-type]


P = DEFAULT_PARAMS
MOVE = P.price_direction_threshold  # the smallest blended price move that has a direction
FLAT = math.nextafter(MOVE, 0.0)  # the largest that has none
UNWINDING_LONGS = dict(funding=0.3, basis=0.1, oi_unwind=0.4, direction=0.22)
# Positioning just under the side threshold, all of it from funding on the long side.
WEAK = math.nextafter(P.side_min_positioning, 0.0)
WEAK_LONG_LEAN = dict(
    funding=WEAK * (P.funding_weight + P.basis_weight) / P.funding_weight, positioning=WEAK, direction=WEAK
)
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
    # price: who is closing when OI falls fast
    (
        "rise at the threshold is shorts covering",
        dict(UNWINDING_LONGS, price_move=MOVE),
        30,
        (Regime.SHORT_COVERING, Bias.SHORT),
    ),
    (
        "rise under the threshold leaves the lean",
        dict(UNWINDING_LONGS, price_move=FLAT),
        30,
        (Regime.LONG_UNWIND, Bias.LONG),
    ),
    (
        "fall at the threshold is longs selling",
        dict(UNWINDING_LONGS, direction=-0.22, funding=-0.3, basis=-0.1, price_move=-MOVE),
        30,
        (Regime.LONG_UNWIND, Bias.LONG),
    ),
    (
        "fall under the threshold leaves the lean",
        dict(UNWINDING_LONGS, direction=-0.22, funding=-0.3, basis=-0.1, price_move=-FLAT),
        30,
        (Regime.SHORT_COVERING, Bias.SHORT),
    ),
    ("no lean, no price: deleveraging", dict(oi_unwind=0.4), 20, (Regime.DELEVERAGING, Bias.NEUTRAL)),
    (
        "no lean, flat price: deleveraging",
        dict(oi_unwind=0.4, price_move=FLAT),
        20,
        (Regime.DELEVERAGING, Bias.NEUTRAL),
    ),
    (
        "no lean, price rising: covering",
        dict(oi_unwind=0.4, price_move=MOVE),
        20,
        (Regime.SHORT_COVERING, Bias.SHORT),
    ),
    (
        "OI falling slower than the unwind threshold: price does not name a side",
        dict(oi_unwind=math.nextafter(P.unwind_threshold, 0.0), price_move=0.9),
        20,
        (Regime.DELEVERAGING, Bias.NEUTRAL),
    ),
    # a lean too weak to name a side (positioning under side_min_positioning) leaves it to price
    (
        "weak lean, OI building, price falling: new shorts",
        dict(WEAK_LONG_LEAN, oi_build=0.2, price_move=-MOVE),
        20,
        (Regime.SHORT_BIAS, Bias.SHORT),
    ),
    (
        "weak lean, OI building, no price: leverage building",
        dict(WEAK_LONG_LEAN, oi_build=0.2),
        20,
        (Regime.LEVERAGE_BUILDING, Bias.NEUTRAL),
    ),
    (
        "weak lean, OI falling fast, no price: deleveraging",
        dict(WEAK_LONG_LEAN, oi_unwind=0.4),
        20,
        (Regime.DELEVERAGING, Bias.NEUTRAL),
    ),
    (
        "lean at the side threshold names its side",
        dict(
            WEAK_LONG_LEAN,
            positioning=P.side_min_positioning,
            direction=P.side_min_positioning,
            oi_build=0.2,
            price_move=-MOVE,
        ),
        20,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    # price: who is opening when OI builds with no lean
    (
        "rise at the threshold is new longs",
        dict(oi_build=0.2, price_move=MOVE),
        20,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "fall at the threshold is new shorts",
        dict(oi_build=0.2, price_move=-MOVE),
        20,
        (Regime.SHORT_BIAS, Bias.SHORT),
    ),
    (
        "move under the threshold: leverage building",
        dict(oi_build=0.2, price_move=-FLAT),
        20,
        (Regime.LEVERAGE_BUILDING, Bias.NEUTRAL),
    ),
    ("no price: leverage building", dict(oi_build=0.2), 20, (Regime.LEVERAGE_BUILDING, Bias.NEUTRAL)),
    (
        "new positions need OI building",
        dict(oi_build=math.nextafter(P.building_threshold, 0.0), price_move=0.9),
        20,
        (Regime.LEVERAGE_BUILDING, Bias.NEUTRAL),
    ),
    (
        "OI building at its threshold",
        dict(oi_build=P.building_threshold, price_move=0.9),
        20,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "a lean beats the price when OI builds",
        dict(oi_build=0.3, funding=0.3, direction=0.18, price_move=-0.9),
        20,
        (Regime.LONG_BIAS, Bias.LONG),
    ),
    (
        "price never undoes a crowded book",
        dict(funding=-0.6, oi_build=0.2, direction=-0.36, price_move=0.9),
        40,
        (Regime.SHORT_CROWDED, Bias.SHORT),
    ),
    (
        "neutral band is balanced whatever the price",
        dict(oi_build=0.5, price_move=0.9),
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
