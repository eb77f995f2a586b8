"""OI change over a horizon: nearest stored point within a tolerance, junk guarded."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.oi_deltas import (
    DEFAULT_TOLERANCES,
    ChangeTimes,
    OiChanges,
    OiDeltaTolerances,
    OiSample,
    change_picks,
    changes_at,
    changes_picked,
    nearest_point,
    oi_change_pct,
    oi_changes,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def grid(values_by_minutes_ago: dict[int, float]) -> list[OiSample]:
    """History from {minutes before NOW: oi}, sorted oldest first."""
    return sorted((NOW - m * MIN, oi) for m, oi in values_by_minutes_ago.items())


def every_5_minutes(hours: int, oi: float = 100.0) -> list[OiSample]:
    return [(NOW - k * 5 * MIN, oi) for k in range(hours * 12, -1, -1)]


def test_defaults_are_10_20_45_minutes_and_frozen() -> None:
    defaults = OiDeltaTolerances()
    assert defaults == DEFAULT_TOLERANCES
    assert [defaults.tolerance_for(h) for h in (1, 4, 24)] == [
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=45),
    ]
    assert defaults.tolerance_for(2) == timedelta(minutes=10)
    assert defaults.tolerance_for(48) == timedelta(minutes=45)
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.tolerance_1h = timedelta(0)  # type: ignore[misc]


def test_change_in_percent_from_the_point_exactly_h_hours_back() -> None:
    history = grid({60: 100.0, 30: 104.0, 0: 110.0})
    assert oi_change_pct(history, NOW, 1) == pytest.approx(10.0)


def test_the_nearest_point_to_now_minus_h_wins() -> None:
    # 7 minutes early vs 4 minutes late: the late one is nearer.
    history = grid({67: 50.0, 56: 200.0, 0: 100.0})
    assert oi_change_pct(history, NOW, 1) == pytest.approx(-50.0)


def test_a_tie_goes_to_the_older_point() -> None:
    history = grid({65: 50.0, 55: 200.0, 0: 100.0})
    assert oi_change_pct(history, NOW, 1) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("hours", "inside", "outside"),
    [(1, 10, 11), (4, 20, 21), (24, 45, 46)],
)
def test_each_horizon_has_its_own_tolerance(hours: int, inside: int, outside: int) -> None:
    back = hours * 60
    assert oi_change_pct(grid({back + inside: 80.0, 0: 100.0}), NOW, hours) == pytest.approx(25.0)
    assert oi_change_pct(grid({back + outside: 80.0, 0: 100.0}), NOW, hours) is None
    assert oi_change_pct(grid({back - outside: 80.0, 0: 100.0}), NOW, hours) is None


def test_custom_tolerances_are_honoured() -> None:
    history = grid({90: 80.0, 0: 100.0})
    assert oi_change_pct(history, NOW, 1) is None
    assert oi_change_pct(history, NOW, 1, timedelta(minutes=30)) == pytest.approx(25.0)
    wide = OiDeltaTolerances(tolerance_1h=timedelta(minutes=30))
    assert oi_changes(history, NOW, wide).h1_pct == pytest.approx(25.0)


def test_a_stale_series_gives_no_change() -> None:
    # The newest point is 15 minutes old: too old for 1h (10 min), fine for 24h (45 min).
    history = grid({24 * 60 + 15: 50.0, 75: 80.0, 15: 100.0})
    assert oi_change_pct(history, NOW, 1) is None
    assert oi_change_pct(history, NOW, 24) == pytest.approx(100.0)


def test_points_after_now_are_ignored() -> None:
    history = [*grid({60: 100.0, 0: 110.0}), (NOW + 5 * MIN, 999.0)]
    assert oi_change_pct(history, NOW, 1) == pytest.approx(10.0)


@pytest.mark.parametrize("past", [0.0, -5.0, math.nan, math.inf, -math.inf])
def test_unusable_past_oi_gives_none(past: float) -> None:
    assert oi_change_pct(grid({60: past, 0: 100.0}), NOW, 1) is None


@pytest.mark.parametrize("current", [-1.0, math.nan, math.inf])
def test_unusable_current_oi_gives_none(current: float) -> None:
    assert oi_change_pct(grid({60: 100.0, 0: current}), NOW, 1) is None


def test_open_interest_going_to_zero_is_minus_100() -> None:
    assert oi_change_pct(grid({60: 100.0, 0: 0.0}), NOW, 1) == pytest.approx(-100.0)


def test_short_or_empty_history_is_missing_not_an_error() -> None:
    assert oi_change_pct([], NOW, 1) is None
    assert oi_change_pct(grid({0: 100.0}), NOW, 1) is None
    changes = oi_changes(every_5_minutes(hours=2), NOW)
    assert changes == OiChanges(h1_pct=0.0, h4_pct=None, h24_pct=None)


def test_a_huge_tolerance_never_compares_a_point_with_itself() -> None:
    assert oi_change_pct(grid({0: 100.0}), NOW, 1, timedelta(hours=5)) is None


def test_all_three_horizons() -> None:
    history = grid({24 * 60: 50.0, 4 * 60: 80.0, 60: 90.0, 0: 100.0})
    changes = oi_changes(history, NOW)
    assert changes.h1_pct == pytest.approx(100 / 90 * 100 - 100)
    assert changes.h4_pct == pytest.approx(25.0)
    assert changes.h24_pct == pytest.approx(100.0)


def test_naive_now_and_non_positive_horizon_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="aware"):
        oi_change_pct([], NOW.replace(tzinfo=None), 1)
    with pytest.raises(ValueError, match="positive"):
        oi_change_pct([], NOW, 0)


def test_nearest_point_directly() -> None:
    history = grid({70: 1.0, 50: 2.0})
    assert nearest_point(history, NOW - 60 * MIN, 10 * MIN) == (NOW - 70 * MIN, 1.0)
    assert nearest_point(history, NOW - 60 * MIN, 9 * MIN) is None
    assert nearest_point([], NOW, 10 * MIN) is None


@given(
    ois=st.lists(st.floats(min_value=1e-3, max_value=1e12), min_size=2, max_size=30),
    scale=st.floats(min_value=1e-3, max_value=1e3),
)
def test_changes_are_finite_and_do_not_depend_on_units(ois: list[float], scale: float) -> None:
    # Contracts vs thousands of contracts: the relative change is the same.
    history = [(NOW - (len(ois) - 1 - k) * 5 * MIN, oi) for k, oi in enumerate(ois)]
    scaled = [(ts, oi * scale) for ts, oi in history]
    for hours in (1, 4, 24):
        plain, rescaled = oi_change_pct(history, NOW, hours), oi_change_pct(scaled, NOW, hours)
        assert (plain is None) == (rescaled is None)
        if plain is not None and rescaled is not None:
            assert math.isfinite(plain)
            assert plain >= -100.0
            assert rescaled == pytest.approx(plain, rel=1e-9, abs=1e-9)


def bits(value: float | None) -> str | None:
    """A float's exact bits (``-0.0`` differs from ``0.0``), or None."""
    return None if value is None else value.hex()


# Whole minutes, mostly near now and near the horizons' targets, so that ties between
# neighbours and points exactly on a tolerance's edge are common; duplicates, junk values
# and points after now included.
near_targets = st.builds(
    lambda base, minutes: base + minutes,
    st.sampled_from([0, -60, -4 * 60, -24 * 60]),
    st.integers(min_value=-50, max_value=50),
)
histories = st.lists(
    st.tuples(
        st.one_of(near_targets, st.integers(min_value=-26 * 60, max_value=10)),
        st.one_of(
            st.floats(min_value=0.0, max_value=1e6),
            st.sampled_from([math.nan, math.inf, -1.0, 0.0, 100.0, 101.0]),
        ),
    ),
    max_size=40,
).map(lambda points: sorted(((NOW + m * MIN, oi) for m, oi in points), key=lambda p: p[0]))
slacks = st.one_of(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=30 * 60)).map(
    lambda m: m * MIN
)
tolerance_sets = st.one_of(st.just(DEFAULT_TOLERANCES), st.builds(OiDeltaTolerances, slacks, slacks, slacks))


@st.composite
def measured_histories(draw: st.DrawFn) -> tuple[list[OiSample], datetime, OiDeltaTolerances]:
    """A history with points on the edges that matter: exactly a tolerance from a target or
    from now, and pairs the same distance either side of a target (a tie)."""
    tolerances = draw(tolerance_sets)
    now = NOW + draw(st.integers(min_value=-15, max_value=15)) * MIN
    points = [(ts, oi) for ts, oi in draw(histories)]
    values = st.floats(min_value=1.0, max_value=1e6)
    for hours in (1, 4, 24):
        slack = tolerances.tolerance_for(hours)
        target = now - timedelta(hours=hours)
        edges = [now - slack, target - slack, target + slack]
        gap = draw(st.integers(min_value=0, max_value=60)) * MIN
        edges += [target - gap, target + gap]
        points += [(ts, draw(values)) for ts in draw(st.lists(st.sampled_from(edges), max_size=5))]
    return sorted(points, key=lambda p: p[0]), now, tolerances


@settings(max_examples=500)
@given(measured_histories())
def test_changes_measured_together_are_those_measured_horizon_by_horizon(
    drawn: tuple[list[OiSample], datetime, OiDeltaTolerances],
) -> None:
    # oi_changes measures the three horizons against bounds computed once (ChangeTimes);
    # oi_change_pct finds each horizon's nearest point on its own: the bits must agree.
    history, now, tolerances = drawn
    together = changes_at(history, ChangeTimes(now, tolerances))
    assert together == oi_changes(history, now, tolerances)
    one_by_one = [oi_change_pct(history, now, h, tolerances.tolerance_for(h)) for h in (1, 4, 24)]
    assert [bits(together.h1_pct), bits(together.h4_pct), bits(together.h24_pct)] == [
        bits(v) for v in one_by_one
    ]


def test_changes_near_the_calendars_start_are_measured_horizon_by_horizon() -> None:
    # 24 h after the first representable time, a 45-minute bound before the 24 h target
    # does not exist; the changes are still measured (the older horizons simply have none).
    now = datetime.min.replace(tzinfo=UTC) + timedelta(hours=24, minutes=1)
    history = [(now - timedelta(hours=1), 100.0), (now, 110.0)]
    times = ChangeTimes(now)
    assert times.bounds is None
    assert changes_at(history, times) == OiChanges(
        h1_pct=oi_change_pct(history, now, 1), h4_pct=oi_change_pct(history, now, 4), h24_pct=None
    )
    assert changes_at(history, times).h1_pct == pytest.approx(10.0)


@settings(max_examples=300)
@given(
    measured_histories(),
    st.lists(st.lists(st.floats(allow_nan=True), min_size=40, max_size=40), max_size=4),
)
def test_picks_found_on_one_history_measure_every_history_on_its_times(
    drawn: tuple[list[OiSample], datetime, OiDeltaTolerances], others: list[list[float]]
) -> None:
    # The points a change is measured from depend on the times alone: picks found once
    # measure any history on the same times exactly as changes_at does.
    history, now, tolerances = drawn
    times = ChangeTimes(now, tolerances)
    picks = change_picks(history, times)
    for values in [[oi for _, oi in history], *others]:
        same_times = [(ts, values[i % len(values)]) for i, (ts, _) in enumerate(history)]
        got, expected = changes_picked(same_times, picks), changes_at(same_times, times)
        assert [bits(got.h1_pct), bits(got.h4_pct), bits(got.h24_pct)] == [
            bits(expected.h1_pct),
            bits(expected.h4_pct),
            bits(expected.h24_pct),
        ]


def test_change_picks_need_the_horizons_bounds() -> None:
    times = ChangeTimes(datetime.min.replace(tzinfo=UTC) + timedelta(hours=24, minutes=1))
    with pytest.raises(ValueError, match="bounds"):
        change_picks([], times)
