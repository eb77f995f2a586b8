"""The cycle's changes measured on the market memory's arrays (``MarketMemory.changes``) are
exactly those ``score_snapshots`` measures over the points ``MarketMemory.series`` picks."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.market_memory import MarketMemory
from bot.app.snapshot_scoring import ScoredSymbol, score_measured, score_snapshots
from bot.core.market import MarketSnapshot
from bot.core.oi_deltas import DEFAULT_TOLERANCES, OiDeltaTolerances
from bot.core.params import DEFAULT_PARAMS
from bot.ports import MarketSeries, OiSeries

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EX = "fakex"
SYMBOLS = "ABCDE"


def snap(symbol: str, ts: datetime, oi: float | None, mark: float | None) -> MarketSnapshot:
    return MarketSnapshot(EX, symbol, ts, oi, None, mark, mark, mark, 0.0001, 8.0, None, 1e6)


def old_path(
    memory: MarketMemory, latest: list[MarketSnapshot], now: datetime, tolerances: OiDeltaTolerances
) -> list[ScoredSymbol]:
    """How the cycle scored before: the picked points as lists, then ``score_snapshots``."""
    at: dict[str, list[datetime]] = {}
    for s in latest:
        at.setdefault(s.symbol, []).append(s.ts)
    series = memory.series(now, at)
    return score_snapshots(
        latest,
        lambda sym: series.oi.get(sym, []),
        now,
        DEFAULT_PARAMS,
        tolerances=tolerances,
        price_history=lambda sym: series.mark.get(sym, []),
    )


def new_path(
    memory: MarketMemory, latest: list[MarketSnapshot], now: datetime, tolerances: OiDeltaTolerances
) -> list[ScoredSymbol]:
    at: dict[str, list[datetime]] = {}
    for s in latest:
        at.setdefault(s.symbol, []).append(s.ts)
    measure = partial(memory.changes, now, at)
    return score_measured(latest, measure, now, DEFAULT_PARAMS, tolerances=tolerances)


def assert_identical(old: list[ScoredSymbol], new: list[ScoredSymbol]) -> None:
    assert new == old
    # repr tells 0.0 from -0.0, which == does not: the floats are the same bits.
    assert [repr((s.snapshot, s.inputs, s.result)) for s in new] == [
        repr((s.snapshot, s.inputs, s.result)) for s in old
    ]


# Seconds from NOW: the horizons' targets and their tolerance edges (±0, ±1 s), where the
# choice of neighbour and the bounds matter, and anywhere in the last 26 h.
EDGES = sorted(
    {
        -h * 3600 + side * (slack + d)
        for h in (0, 1, 4, 24)
        for slack in (0, 600, 1200, 2700)
        for side in (-1, 1)
        for d in (-1, 0, 1)
    }
)
offsets = st.one_of(st.sampled_from(EDGES), st.integers(min_value=-26 * 3600, max_value=600))
values = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0, -5.0, 1000.0, 1010.0, 1e308]),
)
# A grid: points every ``step`` seconds from ``start`` back, some dropped (gaps).
grids = st.tuples(
    st.integers(min_value=0, max_value=299),  # offset
    st.sampled_from([60, 300, 301, 900]),  # step
    st.integers(min_value=0, max_value=4),  # every how many points one is dropped (0: none)
)
series_of = st.tuples(
    st.one_of(st.none(), st.integers(min_value=0, max_value=2)),  # grid index, None: no series
    st.lists(st.tuples(offsets, values), max_size=12),  # extra points, off the grid
    st.integers(min_value=0, max_value=2**32),  # the grid's values' seed
)


def grid_points(grid: tuple[int, int, int], seed: int, span_h: int) -> list[tuple[int, float]]:
    offset, step, drop = grid
    rng = random.Random(seed)
    special = [math.nan, math.inf, 0.0, -1.0]
    found = []
    for k, s in enumerate(range(-offset, -span_h * 3600, -step)):
        if drop and k % (drop + 2) == drop:
            continue
        found.append((s, rng.choice(special) if rng.random() < 0.05 else rng.uniform(1.0, 2e6)))
    return found


@settings(max_examples=300, deadline=None)
@given(
    grid_list=st.lists(grids, min_size=1, max_size=3),
    per_symbol=st.lists(st.tuples(st.sampled_from(SYMBOLS), series_of, series_of), max_size=6),
    latest=st.lists(
        st.tuples(
            st.sampled_from(SYMBOLS + "F"),
            st.one_of(st.sampled_from([0, -1, -300, -301, -600, 120]), st.integers(-700, 300)),
            values,
            values,
        ),
        min_size=1,
        max_size=6,
    ),
    span_h=st.sampled_from([2, 26]),
    now_shift=st.sampled_from([0, 1, 299]),
    trim_at=st.one_of(st.none(), st.integers(min_value=-2 * 3600, max_value=3600)),
    shuffle_seed=st.integers(min_value=0, max_value=2**32),
    wide=st.booleans(),
)
def test_memory_changes_score_as_the_picked_points_do(
    grid_list: list[tuple[int, int, int]],
    per_symbol: list[tuple[str, tuple[int | None, list[tuple[int, float | None]], int], ...]],
    latest: list[tuple[str, int, float | None, float | None]],
    span_h: int,
    now_shift: int,
    trim_at: int | None,
    shuffle_seed: int,
    wide: bool,
) -> None:
    # Wide tolerances reach past the horizons: a start can fall on the end point itself.
    tolerances = (
        OiDeltaTolerances(timedelta(hours=2), timedelta(hours=5), timedelta(hours=30))
        if wide
        else DEFAULT_TOLERANCES
    )
    memory = MarketMemory(tolerances)
    oi: OiSeries = {}
    mark: OiSeries = {}
    for symbol, *kinds in per_symbol:
        for out, (grid, extra, seed) in zip((oi, mark), kinds, strict=True):
            if grid is None:
                continue
            points = grid_points(grid_list[grid % len(grid_list)], seed, span_h)
            points += [(s, v) for s, v in extra if v is not None]  # duplicates: the first held wins
            out.setdefault(symbol, []).extend((NOW + timedelta(seconds=s), v) for s, v in points)
    rng = random.Random(shuffle_seed)
    for points in (*oi.values(), *mark.values()):
        rng.shuffle(points)  # added out of order
    # Added in two parts, then a cycle's snapshots on top, as a running memory gets them.
    memory.add_series(
        MarketSeries(oi={s: p[::2] for s, p in oi.items()}, mark={s: p[::2] for s, p in mark.items()})
    )
    memory.add_series(
        MarketSeries(oi={s: p[1::2] for s, p in oi.items()}, mark={s: p[1::2] for s, p in mark.items()})
    )
    # F: series made by a read that found no point for it, held empty.
    memory.add_series(MarketSeries(oi={"F": []}, mark={"F": []}))
    now = NOW + timedelta(seconds=now_shift)
    if trim_at is not None:
        memory.trim(now + timedelta(seconds=trim_at) - timedelta(hours=25))
    snaps = [snap(sym, now + timedelta(seconds=s), o, m) for sym, s, o, m in latest]

    assert_identical(old_path(memory, snaps, now, tolerances), new_path(memory, snaps, now, tolerances))


def test_symbols_on_one_grid_share_their_picks_yet_read_their_own_values() -> None:
    memory = MarketMemory()
    times = [NOW - timedelta(minutes=5 * k) for k in range(300)]
    memory.add_series(
        MarketSeries(
            oi={
                "A": [(t, 1000.0 + k) for k, t in enumerate(times)],
                "B": [(t, 50.0 * (k + 1)) for k, t in enumerate(times)],
            },
            mark={"A": [(t, 2.0) for t in times]},
        )
    )
    snaps = [
        snap("A", NOW, 990.0, None),
        snap("B", NOW + timedelta(minutes=1), 40.0, 3.0),
        snap("C", NOW, 7.0, 1.0),
    ]
    new = new_path(memory, snaps, NOW, DEFAULT_TOLERANCES)
    assert_identical(old_path(memory, snaps, NOW, DEFAULT_TOLERANCES), new)
    by = {s.snapshot.symbol: s.inputs for s in new}
    # A: the stored point at now (1000.0) wins over the snapshot's; 1h back is 1012.0.
    assert by["A"].oi_1h_pct is not None and abs(by["A"].oi_1h_pct - (1000.0 / 1012.0 - 1) * 100) < 1e-9
    # B: the snapshot's own point is newer than the stored ones: it is the end point.
    assert by["B"].oi_1h_pct is not None and abs(by["B"].oi_1h_pct - (40.0 / 650.0 - 1) * 100) < 1e-9
    # C: nothing stored: every change unknown.
    assert by["C"].oi_1h_pct is None


def test_series_on_other_times_of_the_same_length_get_their_own_picks() -> None:
    # Two grids of as many points, 150 s apart: the picks found on one must not be reused
    # for the other (the end and past points sit at other indices once the times differ).
    memory = MarketMemory()
    first = [NOW - timedelta(minutes=5 * k) for k in range(300)]
    shifted = [t - timedelta(seconds=150) for t in first]
    later = [t + timedelta(seconds=590) for t in first]
    memory.add_series(
        MarketSeries(
            oi={
                "A": [(t, 1000.0 + k) for k, t in enumerate(first)],
                "B": [(t, 1000.0 + 3 * k) for k, t in enumerate(shifted)],
                "C": [(t, 1000.0 + 7 * k) for k, t in enumerate(later)],
            },
            mark={
                "A": [(t, 1.0 + k) for k, t in enumerate(later)],
                "B": [(t, 2.0 + k) for k, t in enumerate(first)],
            },
        )
    )
    snaps = [snap(sym, NOW, None, None) for sym in "ABC"]
    new = new_path(memory, snaps, NOW, DEFAULT_TOLERANCES)
    assert_identical(old_path(memory, snaps, NOW, DEFAULT_TOLERANCES), new)
    assert len({(s.inputs.oi_1h_pct, s.inputs.price_1h_pct) for s in new}) == 3
