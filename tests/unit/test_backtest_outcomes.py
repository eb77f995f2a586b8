"""Forward outcomes (bot/core/outcomes.py), checked against numbers worked out by hand."""

from __future__ import annotations

import math
from array import array
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.models import Band
from bot.core.outcomes import (
    DEFAULT_HORIZONS,
    Horizon,
    OutcomeParams,
    OutcomeStore,
    PricePath,
    _forward_indices,
    forward_abs_returns,
    forward_index,
    forward_outcomes,
    group_table,
    median,
    rank_bands,
    summarise,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOURLY = OutcomeParams(horizons=(Horizon("1h", 3600.0, 0.0),), min_trailing=2)


def path(prices: list[float | None], ois: list[float | None] | None = None, step_s: int = 3600) -> PricePath:
    ois = ois if ois is not None else [1000.0] * len(prices)
    return PricePath.of(
        (T0 + timedelta(seconds=k * step_s), p, o) for k, (p, o) in enumerate(zip(prices, ois, strict=True))
    )


def test_forward_index_is_the_nearest_point_within_tolerance_ties_to_the_older() -> None:
    h = Horizon("1h", 3600.0, 600.0)
    assert forward_index([0.0, 300.0, 3500.0, 3700.0], 0, h) == 2  # 100 s vs 100 s: the older
    assert forward_index([0.0, 3650.0, 3900.0], 0, h) == 1
    assert forward_index([0.0, 2900.0, 4300.0], 0, h) is None  # both 700 s away
    assert forward_index([0.0, 300.0], 1, Horizon("x", 0.0, 600.0)) is None  # never itself or earlier


def test_absolute_return_and_realised_volatility_to_the_forward_point() -> None:
    # Half-hourly: 100 → 90 → 110; one hour ahead of the first point is the third.
    p = path([100.0, 90.0, 110.0], step_s=1800)
    h1 = forward_outcomes(p, OutcomeParams(horizons=(Horizon("1h", 3600.0, 0.0),)))[0]
    assert h1.abs_return_pct[0] == pytest.approx(10.0)
    assert math.isnan(h1.abs_return_pct[1])  # no point an hour after the second
    # Relative volatility needs a trailing baseline, which a three-point path has not got.
    assert math.isnan(h1.rel_vol[0])


def test_relative_volatility_is_over_the_trailing_median_of_closed_windows() -> None:
    # Hourly prices; RV(u) = 100·|ln(p[u+1]/p[u])|: 9.531, 10.536, 0, 9.531.
    out = forward_outcomes(path([100.0, 110.0, 99.0, 99.0, 108.9]), HOURLY)[0]
    # Point 1: only u=0 has closed (one window) → no baseline. Point 2: u in {0, 1}.
    assert math.isnan(out.rel_vol[0]) and math.isnan(out.rel_vol[1])
    assert out.rel_vol[2] == pytest.approx(0.0)  # 99 → 99 is flat, whatever the baseline
    # Point 3: baseline = median(9.531, 10.536, 0) = 9.531; RV(3) = 100·ln(1.1) = 9.531.
    assert out.rel_vol[3] == pytest.approx(1.0)
    assert math.isnan(out.rel_vol[4])  # nothing an hour after the last point


def test_the_trailing_lookback_drops_old_windows() -> None:
    short = OutcomeParams(horizons=HOURLY.horizons, min_trailing=2, trailing_s=3600.0)
    out = forward_outcomes(path([100.0, 110.0, 99.0, 99.0, 108.9]), short)[0]
    # At point 3 only the window begun at 2h is within an hour: one window, no baseline.
    assert math.isnan(out.rel_vol[3])


def test_oi_drop_is_the_lowest_oi_within_the_horizon_ten_percent_below() -> None:
    four = OutcomeParams(horizons=(Horizon("4h", 4 * 3600.0, 0.0),))
    # From 100: falls to 90 (exactly 10 %) inside the horizon, then recovers: a drop.
    out = forward_outcomes(path([1.0] * 6, [100.0, 95.0, 90.0, 100.0, 101.0, 101.0]), four)[0]
    assert out.oi_drop[0] == 1
    # From 95 (point 1): lowest within (1, 5] is 90, 5.3 % below: no drop.
    assert out.oi_drop[1] == 0
    # The minimum is taken over the window only: the 90 at point 2 is before point 3's window.
    assert out.oi_drop[3] == -1  # no forward point 4h after point 3 → unknown
    out = forward_outcomes(path([1.0] * 5, [100.0, 91.0, 95.0, None, 99.0]), four)[0]
    assert out.oi_drop[0] == 0  # 9 % is not 10 %; a missing OI is skipped


def test_outcomes_never_read_past_the_forward_point() -> None:
    prices = [100.0, 104.0, 99.0, 101.0, 97.0, 103.0, 100.0, 98.0, 105.0, 102.0]
    full = forward_outcomes(path(prices, [100.0 - k for k in range(10)]), HOURLY)[0]
    for cut in range(2, len(prices)):
        part = forward_outcomes(path(prices[:cut], [100.0 - k for k in range(cut)]), HOURLY)[0]
        i = cut - 2  # its forward point is the last point of the cut path
        assert part.abs_return_pct[i] == full.abs_return_pct[i]
        assert part.oi_drop[i] == full.oi_drop[i]
        assert (math.isnan(part.rel_vol[i]) and math.isnan(full.rel_vol[i])) or part.rel_vol[
            i
        ] == pytest.approx(full.rel_vol[i])


def test_price_path_sorts_drops_repeats_and_cleans_values() -> None:
    p = PricePath.of(
        [
            (T0 + timedelta(hours=1), 2.0, -5.0),
            (T0, None, 3.0),
            (T0 + timedelta(hours=1), 9.0, 9.0),  # repeat of a time: the first one stays
        ]
    )
    assert list(p.ts) == [T0.timestamp(), T0.timestamp() + 3600]
    assert math.isnan(p.price[0]) and p.price[1] == 2.0
    assert p.oi[0] == 3.0 and math.isnan(p.oi[1])
    assert p.index_of(T0 + timedelta(hours=1)) == 1 and p.index_of(T0 + timedelta(minutes=1)) is None
    with pytest.raises(ValueError, match="naive"):
        PricePath.of([(datetime(2026, 1, 1), 1.0, 1.0)])  # noqa: DTZ001 - the point of the test


def _store(rows: list[tuple[float, float, int]]) -> OutcomeStore:
    """A one-horizon store whose readings have the given (abs return, rel vol, OI drop)."""
    from bot.core.outcomes import HorizonOutcomes

    h = Horizon("24h", 86400.0, 2700.0)
    store = OutcomeStore((h,))
    outcomes = HorizonOutcomes(
        h,
        array("d", [r[0] for r in rows]),
        array("d", [r[1] for r in rows]),
        array("b", [r[2] for r in rows]),
    )
    store.extend((outcomes,), range(len(rows)))
    return store


def test_group_figures_and_lifts_over_the_reference() -> None:
    nan = float("nan")
    store = _store(
        [
            (1.0, 1.0, 0),  # neutral
            (2.0, 0.5, 0),  # neutral
            (3.0, nan, 1),  # neutral
            (4.0, 2.0, 1),  # stressed
            (8.0, 3.0, 1),  # stressed
            (nan, nan, -1),  # stressed, no forward point
        ]
    )
    neutral = summarise(store, "neutral", [0, 1, 2])
    n = neutral.horizons[0]
    assert (n.n, n.median_abs_return_pct, n.n_vol, n.median_rel_vol, n.n_oi) == (3, 2.0, 2, 0.75, 3)
    assert n.oi_drop_share == pytest.approx(1 / 3)
    table = group_table(store, {"stressed": [3, 4, 5], "neutral": [0, 1, 2]}, neutral)
    s = table[0]
    assert s.key == "stressed" and s.readings == 3
    h = s.horizons[0]
    assert (h.n, h.median_abs_return_pct, h.median_rel_vol, h.oi_drop_share) == (2, 6.0, 2.5, 1.0)
    assert h.lift_abs_return == pytest.approx(3.0)
    assert h.lift_rel_vol == pytest.approx(2.5 / 0.75)
    assert h.lift_oi_drop == pytest.approx(3.0)
    assert table[1].horizons[0].lift_abs_return == pytest.approx(1.0)


def test_an_empty_group_has_no_figures_and_no_lift() -> None:
    store = _store([(1.0, 1.0, 0)])
    empty = group_table(store, {"stressed": []}, summarise(store, "neutral", [0]))[0]
    h = empty.horizons[0]
    assert (h.n, h.median_abs_return_pct, h.oi_drop_share, h.lift_abs_return) == (0, None, None, None)


def test_a_zero_reference_gives_no_lift() -> None:
    store = _store([(1.0, 1.0, 0), (2.0, 1.0, 1)])
    h = group_table(store, {"g": [1]}, summarise(store, "ref", [0]))[0].horizons[0]
    assert h.lift_oi_drop is None and h.lift_abs_return == 2.0


def test_rank_bands_gives_the_highest_values_the_highest_bands_in_the_given_sizes() -> None:
    nan = float("nan")
    counts = {Band.STRESSED: 1, Band.STRETCHED: 1, Band.LEAN: 1, Band.NEUTRAL: 2}
    got = rank_bands([0.5, 3.0, nan, 2.0, 3.0], counts)
    # The tie at 3.0 goes to the earlier reading; NaN ranks lowest.
    assert got == [Band.NEUTRAL, Band.STRESSED, Band.NEUTRAL, Band.LEAN, Band.STRETCHED]
    with pytest.raises(ValueError, match="add up"):
        rank_bands([1.0, 2.0], {Band.NEUTRAL: 1})


def test_median_and_default_horizons() -> None:
    assert median([]) is None
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert [h.label for h in DEFAULT_HORIZONS] == ["1h", "4h", "24h"]


@given(
    st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=60),
    st.integers(min_value=0, max_value=7200),
    st.integers(min_value=0, max_value=1200),
)
def test_the_one_pass_forward_indices_agree_with_forward_index(
    gaps: list[int], seconds: int, tol: int
) -> None:
    ts = [0.0]
    for g in gaps:
        ts.append(ts[-1] + g)
    h = Horizon("h", float(seconds), float(tol))
    expected = [forward_index(ts, i, h) for i in range(len(ts))]
    assert _forward_indices(ts, h) == [-1 if j is None else j for j in expected]


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=3000),
            st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e6)),
        ),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=0, max_value=7200),
    st.integers(min_value=0, max_value=1200),
)
def test_the_abs_returns_alone_are_those_of_the_whole_outcomes(
    steps: list[tuple[int, float | None]], seconds: int, tol: int
) -> None:
    # The track's lean pass must give exactly the backtest's figures, missing prices included.
    ts, prices = [0.0], [100.0]
    for gap, price in steps:
        ts.append(ts[-1] + gap)
        prices.append(math.nan if price is None else price)
    h = Horizon("h", float(seconds), float(tol))
    whole = PricePath(array("d", ts), array("d", prices), array("d", [math.nan]) * len(ts))
    (expected,) = forward_outcomes(whole, OutcomeParams(horizons=(h,)))
    found = forward_abs_returns(ts, prices, h)
    assert [repr(v) for v in found] == [repr(v) for v in expected.abs_return_pct]
