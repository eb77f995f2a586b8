"""One scoring cycle: latest snapshots + stored OI history → ranked scores; stale excluded."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.snapshot_scoring import (
    DEFAULT_STALE_AFTER,
    ScoredSymbol,
    SharedTimes,
    _changes,
    _with_snapshot_point,
    score_snapshot,
    score_snapshots,
    shared_times,
    split_stale,
)
from bot.core.market import MarketSnapshot
from bot.core.models import Band, Regime
from bot.core.oi_deltas import ChangeTimes, OiSample, changes_at
from bot.core.params import DEFAULT_PARAMS

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def snap(
    symbol: str, *, ts: datetime = NOW, funding: float = 0.0001, mark: float = 100.0, **kw: object
) -> MarketSnapshot:
    base = MarketSnapshot(
        exchange="replay",
        symbol=symbol,
        ts=ts,
        oi_contracts=1000.0,
        oi_usd=1e5,
        mark_price=mark,
        index_price=100.0,
        last_price=mark,
        funding_rate=funding,
        funding_interval_h=8.0,
        next_funding_time=ts + timedelta(hours=4),
        volume_24h_usd=1e6,
    )
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def ramp(end_oi: float, growth_24h_pct: float, end: datetime = NOW) -> list[OiSample]:
    """A day of 5-minute points growing linearly by ``growth_24h_pct`` up to ``end_oi``."""
    start = end_oi / (1 + growth_24h_pct / 100)
    steps = 24 * 12
    return [(end - (steps - k) * STEP, start + (end_oi - start) * k / steps) for k in range(steps + 1)]


class FakeHistory:
    """Stands in for the store's OI history; records which symbols were asked for."""

    def __init__(self, points: dict[str, list[OiSample]]) -> None:
        self.points = points
        self.asked: list[str] = []

    def __call__(self, symbol: str) -> Sequence[OiSample]:
        self.asked.append(symbol)
        return self.points.get(symbol, [])


def test_ranked_by_score_then_symbol() -> None:
    history = FakeHistory({s: ramp(1000.0, 30.0) for s in ("AAA", "BBB", "CCC", "DDD")})
    latest = [
        snap("CCC"),  # baseline funding, no premium: only OI
        snap("BBB", funding=0.0010, mark=100.4),  # crowded longs
        snap("AAA"),
        snap("DDD", funding=-0.0008, mark=99.6),  # crowded shorts
    ]
    scored = score_snapshots(latest, history, NOW, DEFAULT_PARAMS)
    keys = [(-s.result.score, s.snapshot.symbol) for s in scored]
    assert keys == sorted(keys)
    assert {s.snapshot.symbol for s in scored[:2]} == {"BBB", "DDD"}
    assert [s.snapshot.symbol for s in scored[2:]] == ["AAA", "CCC"]
    top = scored[0]
    assert isinstance(top, ScoredSymbol)
    assert top.result.band is Band.STRESSED
    assert top.inputs.oi_24h_pct == pytest.approx(30.0)
    assert not top.result.partial


def test_stale_snapshots_are_excluded_and_listed_by_split_stale() -> None:
    fresh = snap("FRESH", ts=NOW - DEFAULT_STALE_AFTER)  # exactly at the limit: still fresh
    stale = snap("STALE", ts=NOW - DEFAULT_STALE_AFTER - timedelta(seconds=1))
    history = FakeHistory({"FRESH": ramp(1000.0, 5.0, fresh.ts), "STALE": ramp(1000.0, 5.0, stale.ts)})
    scored = score_snapshots([fresh, stale], history, NOW, DEFAULT_PARAMS)
    assert [s.snapshot.symbol for s in scored] == ["FRESH"]
    assert history.asked == ["FRESH"]
    split = split_stale([fresh, stale], NOW, DEFAULT_STALE_AFTER)
    assert split.fresh == (fresh,)
    assert split.stale == (stale,)


def test_stale_after_is_configurable() -> None:
    old = snap("OLD", ts=NOW - timedelta(hours=1))
    assert score_snapshots([old], FakeHistory({}), NOW, DEFAULT_PARAMS) == []
    kept = score_snapshots([old], FakeHistory({}), NOW, DEFAULT_PARAMS, stale_after=timedelta(hours=2))
    assert [s.snapshot.symbol for s in kept] == ["OLD"]


def test_oi_changes_are_measured_at_the_snapshot_time_not_the_cycle_time() -> None:
    data_time = NOW - timedelta(minutes=4)
    history = FakeHistory({"AAA": ramp(1000.0, 20.0, data_time)})
    (scored,) = score_snapshots([snap("AAA", ts=data_time)], history, NOW, DEFAULT_PARAMS)
    assert scored.inputs.oi_24h_pct == pytest.approx(20.0)
    assert scored.inputs.oi_1h_pct is not None


def test_the_snapshot_oi_is_used_when_the_store_has_not_got_it_yet() -> None:
    history = FakeHistory({"AAA": [(t, oi) for t, oi in ramp(1000.0, 10.0) if t < NOW]})
    (scored,) = score_snapshots([snap("AAA", oi_contracts=2000.0)], history, NOW, DEFAULT_PARAMS)
    expected = (2000.0 / history.points["AAA"][0][1] - 1) * 100
    assert scored.inputs.oi_24h_pct == pytest.approx(expected)


def test_short_history_and_a_zero_index_give_partial_scores_not_errors() -> None:
    listed_2h_ago = [(NOW - k * STEP, 1000.0) for k in range(24, -1, -1)]
    history = FakeHistory({"NEW": listed_2h_ago, "GLITCH": ramp(1000.0, 5.0)})
    latest = [snap("NEW"), snap("GLITCH", index_price=0.0)]
    by_symbol = {s.snapshot.symbol: s for s in score_snapshots(latest, history, NOW, DEFAULT_PARAMS)}
    new, glitch = by_symbol["NEW"], by_symbol["GLITCH"]
    assert new.inputs.oi_1h_pct == pytest.approx(0.0)
    assert new.inputs.oi_24h_pct is None
    assert new.result.partial
    assert glitch.inputs.basis_pct is None
    assert glitch.result.partial


def test_one_score_per_symbol_the_newest_snapshot_wins() -> None:
    older = snap("AAA", ts=NOW - STEP, funding=0.0030, mark=101.0)
    newer = snap("AAA", funding=0.0001)
    history = FakeHistory({"AAA": ramp(1000.0, 1.0)})
    scored = score_snapshots([newer, older], history, NOW, DEFAULT_PARAMS)
    assert [s.snapshot for s in scored] == [newer]
    assert scored[0].result.regime is Regime.BALANCED


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        score_snapshots([snap("AAA")], FakeHistory({}), NOW.replace(tzinfo=None), DEFAULT_PARAMS)


def test_scored_symbol_is_frozen() -> None:
    (scored,) = score_snapshots([snap("AAA")], FakeHistory({}), NOW, DEFAULT_PARAMS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scored.result = scored.result  # type: ignore[misc]


PLUS_2H = timezone(timedelta(hours=2))
# The same instants as NOW and a minute before it, written in another zone: equal times
# whose points are compared through their own offset.
data_times = st.sampled_from(
    [
        NOW,
        NOW - timedelta(minutes=1),
        NOW.astimezone(PLUS_2H),
        (NOW - timedelta(minutes=1)).astimezone(PLUS_2H),
    ]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(data_times, st.floats(min_value=-50.0, max_value=50.0)), min_size=1, max_size=6),
    st.lists(st.integers(min_value=-25 * 12, max_value=0), max_size=40),
)
def test_a_cycle_scores_each_symbol_as_scoring_it_alone_does(
    latest: list[tuple[datetime, float]], minutes_ago: list[int]
) -> None:
    # score_snapshots shares one set of horizon bounds per data time across symbols;
    # score_snapshot computes its own: inputs and results must be the same bits.
    points = sorted((NOW + k * STEP, 1000.0 + 3 * k) for k in set(minutes_ago))
    prices = [(ts, 100.0 - oi / 100) for ts, oi in points]
    snaps = [
        snap(f"S{i}", ts=ts, oi_contracts=1000.0 * (1 + move / 100)) for i, (ts, move) in enumerate(latest)
    ]
    scored = score_snapshots(snaps, lambda _: points, NOW, DEFAULT_PARAMS, price_history=lambda _: prices)
    alone = {s.symbol: score_snapshot(s, points, DEFAULT_PARAMS, price_history=prices) for s in snaps}
    assert len(scored) == len(snaps)
    for got in scored:
        expected = alone[got.snapshot.symbol]
        assert repr(got.inputs) == repr(expected.inputs)  # repr tells -0.0 from 0.0
        assert got == expected


# Values a store may hold: junk, zero, and ordinary ones.
stored_values = st.one_of(
    st.floats(min_value=0.0, max_value=1e6),
    st.sampled_from([math.nan, math.inf, -1.0, 0.0, 1000.0, 1010.0]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=-25 * 12, max_value=2), unique=True, max_size=30),
    st.lists(
        st.tuples(data_times, st.one_of(st.none(), stored_values), st.lists(stored_values, max_size=40)),
        min_size=1,
        max_size=6,
    ),
)
def test_histories_on_shared_times_score_as_plain_lists_do(
    steps: list[int], symbols: list[tuple[datetime, float | None, list[float]]]
) -> None:
    # SharedTimes histories share their change picks across symbols (found once per
    # measuring time and times); plain lists are measured one by one: the bits must agree.
    times = sorted(NOW + k * STEP for k in steps)
    times_object = list(times)  # one object, as the market memory hands out for a group
    plain: dict[str, list[OiSample]] = {}
    shared: dict[str, SharedTimes] = {}
    snaps = []
    for i, (ts, oi, values) in enumerate(symbols):
        padded = [*values, *([1000.0] * len(times))][: len(times)]
        points = list(zip(times, padded, strict=True))
        plain[f"S{i}"], shared[f"S{i}"] = points, shared_times(points, times_object)
        snaps.append(snap(f"S{i}", ts=ts, oi_contracts=oi))
    got = score_snapshots(snaps, shared.__getitem__, NOW, DEFAULT_PARAMS, price_history=shared.__getitem__)
    expected = score_snapshots(snaps, plain.__getitem__, NOW, DEFAULT_PARAMS, price_history=plain.__getitem__)
    assert [repr(s.inputs) for s in got] == [repr(s.inputs) for s in expected]  # repr tells -0.0 from 0.0
    assert got == expected


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(min_value=-25 * 12, max_value=2), unique=True, max_size=30),
    data_times,
    st.one_of(st.none(), stored_values, st.just(-math.inf)),
    st.sampled_from([None, timedelta(0), timedelta(minutes=-1), timedelta(minutes=1)]),
)
def test_the_snapshots_own_point_is_added_as_with_snapshot_point_adds_it(
    steps: list[int], ts: datetime, value: float | None, newest_at: timedelta | None
) -> None:
    # _changes decides inline whether the snapshot's value joins its history: the changes
    # must be those of the history _with_snapshot_point makes, bit for bit (``newest_at``:
    # a stored point just before, at or after the snapshot's own time).
    history = [(NOW + k * STEP, 1000.0 + k) for k in sorted(steps) if k < -1]
    if newest_at is not None:
        history.append((ts + newest_at, 999.0))
    s = snap("S", ts=ts, oi_contracts=value)
    times = ChangeTimes(ts)
    got = _changes(history, s, value, times, None)
    expected = changes_at(_with_snapshot_point(history, s, value), times)
    assert repr(got) == repr(expected)  # repr tells -0.0 from 0.0
