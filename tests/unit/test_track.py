"""The track record (bot.core.track) on small histories with hand-computed numbers."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import Band, Bias
from bot.core.outcomes import median
from bot.core.track import SortedBag, TrackParams, TrackPool, TrackSeries, evidence, track_record

T0 = datetime(2026, 11, 1, tzinfo=UTC)
H = timedelta(hours=1)
LOOSE = TrackParams(min_readings=2, min_days=1)


def at(k: float) -> datetime:
    return T0 + k * H


def flat_path(hours: int, changes: dict[int, float] | None = None) -> list[tuple[datetime, float]]:
    """Hourly mark prices of 100, except at the given hours."""
    return [(at(k), (changes or {}).get(k, 100.0)) for k in range(hours + 1)]


def test_a_readings_move_is_the_absolute_return_to_the_point_24h_later() -> None:
    s = TrackSeries("BTCUSDT")
    s.add_points(flat_path(30, {24: 110.0, 25: 95.0}))
    s.add_readings([(at(0), Band.STRESSED, Bias.LONG), (at(1), Band.LEAN, Bias.SHORT)])
    s.add_readings([(at(2), Band.NEUTRAL, Bias.NEUTRAL), (at(10), Band.NEUTRAL, Bias.NEUTRAL)])
    s.settle()
    assert s.move[0] == pytest.approx(10.0)  # 100 → 110
    assert s.move[1] == pytest.approx(5.0)  # 100 → 95
    assert s.move[2] == 0.0  # 100 → 100
    assert math.isnan(s.move[3])  # hour 34 is not on the path yet


def test_a_reading_between_points_or_without_a_price_has_no_outcome() -> None:
    s = TrackSeries("X")
    s.add_points([(at(0), 0.0), *flat_path(30)[1:]])  # a zero price is unknown
    s.add_readings([(at(0), Band.LEAN, Bias.LONG), (at(0.5), Band.LEAN, Bias.LONG)])
    s.settle()
    assert math.isnan(s.move[0]) and math.isnan(s.move[1])


def test_an_outcome_arrives_when_the_path_reaches_24h_later() -> None:
    s = TrackSeries("X")
    s.add_points(flat_path(20))
    s.add_readings([(at(0), Band.STRESSED, Bias.LONG)])
    s.settle()
    assert math.isnan(s.move[0])
    s.add_points([(at(k), 100.0) for k in range(21, 24)] + [(at(24), 103.0)])
    s.settle()
    assert s.move[0] == pytest.approx(3.0)


def test_track_record_per_band_with_lift_over_neutral() -> None:
    # Readings at hours 0..5, each 24 h later the price has moved by the given percent.
    moves = {0: 2.0, 1: 4.0, 2: 6.0, 3: 1.0, 4: 3.0, 5: 8.0}
    s = TrackSeries("X")
    s.add_points(flat_path(30, {k + 24: 100.0 + m for k, m in moves.items()}))
    bands = [Band.NEUTRAL, Band.NEUTRAL, Band.NEUTRAL, Band.STRESSED, Band.STRESSED, Band.STRESSED]
    s.add_readings((at(k), band, Bias.LONG) for k, band in enumerate(bands))
    s.add_readings([(at(20), Band.LEAN, Bias.LONG)])  # no outcome yet: counted, not in the sample
    record = track_record([s], "X", LOOSE)
    neutral, lean, stretched, stressed = record.bands
    assert (neutral.readings, neutral.known, neutral.lift) == (3, 3, 1.0)
    assert neutral.median_move_pct == pytest.approx(4.0)
    assert (stressed.readings, stressed.known) == (3, 3)
    assert stressed.median_move_pct == pytest.approx(3.0)
    assert stressed.lift == pytest.approx(0.75)
    assert (lean.readings, lean.known, lean.median_move_pct, lean.lift, lean.enough) == (
        1,
        0,
        None,
        None,
        False,
    )
    assert (stretched.readings, stretched.enough) == (0, False)
    assert record.first == at(0) and record.last == at(20)
    assert record.days == pytest.approx(20 / 24)


def test_the_market_record_pools_every_symbols_readings() -> None:
    a, b = TrackSeries("A"), TrackSeries("B")
    a.add_points(flat_path(30, {24: 101.0, 25: 105.0}))
    b.add_points(flat_path(30, {24: 90.0, 25: 97.0}))
    a.add_readings([(at(0), Band.NEUTRAL, Bias.NEUTRAL), (at(1), Band.STRESSED, Bias.SHORT)])
    b.add_readings([(at(0), Band.NEUTRAL, Bias.NEUTRAL), (at(1), Band.STRESSED, Bias.LONG)])
    neutral, *_, stressed = track_record([a, b], None, LOOSE).bands
    assert neutral.median_move_pct == pytest.approx(5.5)  # 1 % and 10 %
    assert stressed.median_move_pct == pytest.approx(4.0)  # 5 % and 3 %
    assert stressed.lift == pytest.approx(4.0 / 5.5)


def test_below_the_minimum_sample_a_band_shows_no_figure() -> None:
    s = TrackSeries("X")
    s.add_points(flat_path(60, {k: 101.0 for k in range(24, 61)}))
    s.add_readings((at(k), Band.STRESSED, Bias.LONG) for k in range(29))
    s.add_readings((at(k), Band.NEUTRAL, Bias.NEUTRAL) for k in range(29, 36))
    record = track_record([s], "X", TrackParams(min_readings=29, min_days=1))
    neutral, *_, stressed = record.bands
    assert stressed.enough and stressed.median_move_pct == pytest.approx(1.0)
    assert stressed.lift is None  # the neutral reference has only 7 readings
    assert not neutral.enough and neutral.median_move_pct is None
    # One more than there is: none.
    stressed = track_record([s], "X", TrackParams(min_readings=30, min_days=1)).bands[-1]
    assert (stressed.known, stressed.enough, stressed.median_move_pct) == (29, False, None)


def test_the_sample_must_span_enough_days() -> None:
    s = TrackSeries("X")
    s.add_points(flat_path(80, {k: 102.0 for k in range(24, 81)}))
    s.add_readings((at(k), Band.STRESSED, Bias.LONG) for k in range(48))  # hours 0..47: two days
    stressed = track_record([s], "X", TrackParams(min_readings=30, min_days=3)).bands[-1]
    assert (stressed.known, stressed.days, stressed.enough) == (48, 2, False)
    assert track_record([s], "X", TrackParams(min_readings=30, min_days=2)).bands[-1].enough


def _evidence_series(stressed_long: int) -> TrackSeries:
    """Hourly over six days: each stressed LONG reading's price is 6 % higher 24 h on, each
    neutral one's 2 % (prices chained: the price at k + 24 is the price at k times that)."""
    hours = 24 * 6
    kinds = [k % 3 == 0 and k // 3 < stressed_long for k in range(hours)]
    prices = [100.0] * 24
    for k in range(hours):
        prices.append(prices[k] * (1.06 if kinds[k] else 1.02))
    prices.append(prices[-1])  # one more hour: the last reading's outcome is final
    s = TrackSeries("SUIUSDT")
    s.add_points((at(k), p) for k, p in enumerate(prices))
    s.add_readings(
        (at(k), Band.STRESSED, Bias.LONG) if stressed else (at(k), Band.NEUTRAL, Bias.NEUTRAL)
        for k, stressed in enumerate(kinds)
    )
    return s


def test_evidence_is_the_symbols_band_and_bias_against_its_neutral_readings() -> None:
    found = evidence(_evidence_series(40), Band.STRESSED, Bias.LONG)
    assert found is not None
    group, neutral = found
    assert (group.known, group.days) == (40, 5)
    assert group.median_move_pct == pytest.approx(6.0) and group.lift == pytest.approx(3.0)
    assert neutral.known == 144 - 40 and neutral.median_move_pct == pytest.approx(2.0)
    assert evidence(_evidence_series(40), Band.STRESSED, Bias.SHORT) is None  # no SHORT readings


def test_evidence_is_withheld_below_the_minimum_sample() -> None:
    assert evidence(_evidence_series(29), Band.STRESSED, Bias.LONG) is None
    assert evidence(_evidence_series(30), Band.STRESSED, Bias.LONG) is not None


def test_old_history_is_dropped() -> None:
    s = TrackSeries("X")
    s.add_points(flat_path(30, {24: 110.0, 25: 95.0}))
    s.add_readings([(at(0), Band.STRESSED, Bias.LONG), (at(1), Band.LEAN, Bias.SHORT)])
    s.settle()
    s.drop_before(at(1))
    assert list(s.r_ts) == [at(1).timestamp()] and s.move[0] == pytest.approx(5.0)
    assert s.ts[0] == at(1).timestamp()


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        TrackSeries("X").add_points([(datetime(2026, 1, 1), 1.0)])  # noqa: DTZ001


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), chunks=st.integers(1, 6))
def test_topping_up_in_any_order_gives_the_moves_of_one_read(seed: int, chunks: int) -> None:
    rng = random.Random(seed)
    n = 120
    step = timedelta(minutes=rng.choice([20, 30, 60]))
    points = [(T0 + k * step, rng.uniform(50, 150)) for k in range(n) if rng.random() > 0.1]
    readings = [(T0 + k * step, rng.choice(list(Band)), rng.choice(list(Bias))) for k in range(n)]
    whole = TrackSeries("X")
    whole.add_points(points)
    whole.add_readings(readings)
    whole.settle()
    parts = TrackSeries("X")
    # Arriving in chunks, mostly in time order, with a re-read overlap and a few late ones.
    cuts = sorted(rng.sample(range(1, n), chunks - 1)) if chunks > 1 else []
    bounds = [0, *cuts, n]
    for lo, hi in itertools.pairwise(bounds):
        late = rng.sample(points, min(3, len(points)))
        parts.add_points([p for p in points if T0 + lo * step <= p[0] < T0 + hi * step] + late)
        parts.add_readings(readings[max(lo - 2, 0) : hi])
        parts.settle()
    assert list(parts.r_ts) == list(whole.r_ts)
    assert [m if m == m else None for m in parts.move] == [m if m == m else None for m in whole.move]


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.floats(0, 50, allow_nan=False), max_size=3000),
    removals=st.lists(st.integers(0, 10**6), max_size=200),
)
def test_the_sorted_bag_has_the_median_of_outcomes_median(values: list[float], removals: list[int]) -> None:
    bag, kept = SortedBag(), list(values)
    for v in values:
        bag.add(v)
    for r in removals:
        if kept:
            bag.remove(kept.pop(r % len(kept)))
    assert len(bag) == len(kept)
    assert bag.median() == median(kept)
    bag.update(values[:100])
    assert bag.median() == median(kept + values[:100])


def test_removing_what_the_bag_does_not_hold_is_an_error() -> None:
    bag = SortedBag()
    bag.add(1.0)
    with pytest.raises(KeyError):
        bag.remove(2.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_a_pool_kept_from_changes_equals_one_computed_from_scratch(seed: int) -> None:
    rng = random.Random(seed)
    step = timedelta(minutes=30)
    symbols = [TrackSeries(f"S{k}") for k in range(3)]
    pool = TrackPool()
    n = 300
    prices = {s.symbol: [rng.uniform(50, 150) for _ in range(n)] for s in symbols}
    kinds = {s.symbol: [(rng.choice(list(Band)), rng.choice(list(Bias))) for _ in range(n)] for s in symbols}
    withheld: dict[str, int] = {}
    for lo in range(0, n, 24):  # half a day per top-up; a point arrives a top-up late; a window kept
        for s in symbols:
            hi = min(lo + 24, n)
            late = rng.randrange(lo, hi)
            s.add_points([(T0 + k * step, prices[s.symbol][k]) for k in range(lo, hi) if k != late])
            if s.symbol in withheld:  # last top-up's missing point, after newer ones
                k = withheld[s.symbol]
                s.add_points([(T0 + k * step, prices[s.symbol][k])])
            withheld[s.symbol] = late
            s.add_readings((T0 + k * step, *kinds[s.symbol][k]) for k in range(max(lo - 2, 0), hi))
            s.drop_before(T0 + max(hi - 200, 0) * step)
            pool.apply(s.take_changes())
        kept = pool.record(symbols, None, LOOSE)
        fresh = track_record(symbols, None, LOOSE)
        assert kept == fresh


def test_a_staged_outcome_can_be_removed_before_the_flush() -> None:
    s = TrackSeries("X")
    s.add_points(flat_path(30, {24: 110.0, 25: 95.0, 26: 101.0}))
    s.add_readings((at(k), Band.STRESSED, Bias.LONG) for k in range(3))
    pool = TrackPool()
    pool.stage()
    pool.apply(s.take_changes())  # 10 %, 5 % and 1 %, staged
    pool.apply([(False, (Band.STRESSED.rank, 0, s.move[0], s.r_ts[0]))])  # the 10 % one goes
    pool.flush()
    stressed = pool.record([s], "X", TrackParams(min_readings=2, min_days=1)).bands[-1]
    assert (stressed.known, stressed.median_move_pct) == (2, pytest.approx(3.0))  # 5 % and 1 %
