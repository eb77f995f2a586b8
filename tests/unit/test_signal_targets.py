"""Issue 15's targets for the score itself: no pile-up at 100, order to the very top, the seed."""

from __future__ import annotations

import runpy
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.snapshot_scoring import score_snapshot
from bot.collector.replay import ReplayMarket
from bot.core.models import Band, Bias, Regime, ScoreInputs
from bot.core.params import DEFAULT_PARAMS
from bot.core.scoring import score

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def replay_scores() -> list[tuple[str, int]]:
    """Every complete reading of the bundled replay market, scored as the cycle scores it."""
    market = ReplayMarket.bundled()
    times = market.times()
    start = market.first_time_with_history(24)
    assert start is not None
    prices: dict[str, list] = defaultdict(list)  # type: ignore[type-arg]
    out: list[tuple[str, int]] = []
    histories = {s: market.oi_history(s, times[-1]) for s in market.symbols()}
    for ts in times:
        for snap in market.snapshots_at(ts):
            if snap.mark_price is not None:
                prices[snap.symbol].append((ts, snap.mark_price))
            if ts >= start:
                scored = score_snapshot(
                    snap, histories[snap.symbol], DEFAULT_PARAMS, price_history=prices[snap.symbol]
                )
                out.append((snap.symbol, scored.result.score))
    return out


def test_at_most_two_percent_of_stressed_replay_readings_are_exactly_100(
    replay_scores: list[tuple[str, int]],
) -> None:
    stressed = [s for _, s in replay_scores if s >= DEFAULT_PARAMS.band_floors[2]]
    assert len(stressed) > 100  # the replay has stressed episodes to rank
    assert sum(s == 100 for s in stressed) <= 0.02 * len(stressed)
    # And they are spread out, not stacked near the top either.
    assert len(set(stressed)) >= 20


def test_a_crowded_ramp_outranks_the_same_book_unwinding_among_the_top_ten() -> None:
    extreme = dict(funding_pct=0.30, funding_interval_h=8, basis_pct=0.9)
    ramp = score(ScoreInputs(3.0, 10.0, 40.0, **extreme))  # type: ignore[arg-type]
    unwind = score(ScoreInputs(-3.0, -10.0, -40.0, **extreme))  # type: ignore[arg-type]
    assert ramp.band is Band.STRESSED and unwind.band is Band.STRESSED
    assert ramp.score > unwind.score, (ramp.score, unwind.score)
    assert ramp.bias is Bias.LONG
    # In a market whose top ten is all stressed, both stay apart in the ranking.
    market = ReplayMarket.bundled()
    last = market.times()[-1]
    top = sorted(
        (
            score_snapshot(s, market.oi_history(s.symbol, last), DEFAULT_PARAMS).result.score
            for s in market.snapshots_at(last)
        ),
        reverse=True,
    )[:10]
    ranked = sorted([*top, ramp.score, unwind.score], reverse=True)
    assert ranked.index(ramp.score) < ranked.index(unwind.score) < 10


def test_the_squeeze_set_up_keeps_its_regime_and_ranks_below_a_fuller_one() -> None:
    setup = score(ScoreInputs(1.0, 4.0, 20.0, 0.08, 8, -0.40))
    fuller = score(ScoreInputs(2.0, 8.0, 35.0, 0.15, 8, -0.80))
    assert setup.regime is Regime.LONG_SQUEEZE_RISK and fuller.regime is Regime.LONG_SQUEEZE_RISK
    assert setup.score < fuller.score < 100


def test_seed_agreement_figures_that_are_met_stay_met() -> None:
    module = runpy.run_path(str(ROOT / "scripts" / "seed_comparison.py"))
    a = module["agreement"]()
    assert a.spearman >= 0.62
    assert a.median_abs_diff <= 6
    assert 12 <= a.average <= 20
    assert a.clear_rows == 15 and a.clear_same_bias >= 14
    # Not yet met (docs/scoring.md says why); these guard against sliding back.
    assert a.same_band >= 39
    assert a.same_bias >= 42


oi_change = st.floats(min_value=-100.0, max_value=1000.0, allow_nan=False)


@given(h1=oi_change, h4=oi_change, h24=oi_change)
def test_open_interest_alone_never_reaches_stretched(h1: float, h4: float, h24: float) -> None:
    result = score(ScoreInputs(h1, h4, h24, funding_pct=0.01, funding_interval_h=8, basis_pct=0.0))
    assert result.score < DEFAULT_PARAMS.band_floors[1], result
    assert result.bias is Bias.NEUTRAL  # no lean and no price: no side to name
