"""The diff engine: table tests for each rule and hypothesis properties against spam."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from bot.core.bands import band_for
from bot.core.diff import DiffParams, DiffResult, confirmed_band, diff
from bot.core.events import AlertEvent, EventKind, Reading, ScoredPoint, SymbolState
from bot.core.models import Band, Bias, Regime

P = DiffParams()
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def point(
    score: int,
    ts: datetime,
    *,
    bias: Bias | None = None,
    regime: Regime | None = None,
    partial: bool = False,
    symbol: str = "BTCUSDT",
) -> ScoredPoint:
    band = band_for(score, P.band_floors)
    if bias is None:
        bias = Bias.NEUTRAL if band is Band.NEUTRAL else Bias.LONG
    if regime is None:
        regime = Regime.BALANCED if band is Band.NEUTRAL else Regime.LONG_BIAS
    reading = Reading(ts=ts, score=score, band=band, bias=bias, regime=regime, label=regime.value)
    return ScoredPoint(symbol=symbol, reading=reading, partial=partial)


def run(
    scores: Sequence[int | ScoredPoint], params: DiffParams = P
) -> tuple[list[tuple[datetime, AlertEvent]], DiffResult]:
    """Feed one point per 5-minute cycle; return (cycle time, event) pairs and the last result."""
    states: dict[str, SymbolState] = {}
    seen: list[tuple[datetime, AlertEvent]] = []
    result = DiffResult(events=(), states={}, ignored=())
    for i, item in enumerate(scores):
        now = T0 + i * STEP
        pt = item if isinstance(item, ScoredPoint) else point(item, now)
        result = diff("binanceusdm", states, [pt], now, params)
        states = result.states
        seen.extend((now, e) for e in result.events)
    return seen, result


def kinds(events: list[tuple[datetime, AlertEvent]]) -> list[tuple[EventKind, Band, Band]]:
    return [(e.kind, e.old_band, e.new_band) for _, e in events]


def test_first_sight_is_silent_even_when_high() -> None:
    events, result = run([80])
    assert events == []
    assert result.states["BTCUSDT"].confirmed_band is Band.STRESSED


def test_upward_crossing_alerts_at_once_and_jumps_are_one_event() -> None:
    assert kinds(run([10, 36])[0]) == [(EventKind.BAND_UP, Band.NEUTRAL, Band.STRETCHED)]
    assert kinds(run([10, 75])[0]) == [(EventKind.BAND_UP, Band.NEUTRAL, Band.STRESSED)]


def test_downward_crossing_needs_the_hysteresis_margin() -> None:
    assert kinds(run([40, 33, 32])[0]) == []  # 32 is 3 below 35: not yet
    assert kinds(run([40, 31])[0]) == [(EventKind.BAND_DOWN, Band.STRETCHED, Band.LEAN)]


def test_confirmed_band_rules() -> None:
    assert confirmed_band(Band.STRETCHED, 33, P) is Band.STRETCHED
    assert confirmed_band(Band.STRETCHED, 31, P) is Band.LEAN
    assert confirmed_band(Band.STRESSED, 5, P) is Band.NEUTRAL
    assert confirmed_band(Band.LEAN, 70, P) is Band.STRESSED


def test_escalation_within_the_cooldown_goes_through() -> None:
    events, _ = run([20, 40, 65])
    assert kinds(events) == [
        (EventKind.BAND_UP, Band.LEAN, Band.STRETCHED),
        (EventKind.BAND_UP, Band.STRETCHED, Band.STRESSED),
    ]


def test_no_repeat_while_the_situation_holds_however_long() -> None:
    events, _ = run([20, 40] + [45] * 40)  # 3+ hours in stretched
    assert len(events) == 1


def test_a_flap_within_the_cooldown_says_nothing_more() -> None:
    quick, _ = run([20, 40, 30, 40])  # up, briefly down, up again within minutes
    assert [e.kind for _, e in quick] == [EventKind.BAND_UP]


def test_cooling_held_back_is_announced_when_the_cooldown_ends_if_it_still_holds() -> None:
    events, _ = run([20, 40] + [30] * 14)
    assert [(t - T0, e.kind, e.old_band, e.new_band) for t, e in events] == [
        (STEP, EventKind.BAND_UP, Band.LEAN, Band.STRETCHED),
        (STEP + P.cooldown, EventKind.BAND_DOWN, Band.STRETCHED, Band.LEAN),
    ]
    back_up, _ = run([20, 40] + [30] * 6 + [40] * 10)  # it recovered before the cooldown ended
    assert [e.kind for _, e in back_up] == [EventKind.BAND_UP]


def test_a_new_rise_after_a_cooling_waits_for_the_cooldown() -> None:
    events, _ = run([20, 40] + [30] * 14 + [40] * 14)
    assert [(t - T0, e.kind) for t, e in events] == [
        (STEP, EventKind.BAND_UP),
        (STEP + P.cooldown, EventKind.BAND_DOWN),
        (STEP + 2 * P.cooldown, EventKind.BAND_UP),
    ]


def test_partial_stale_and_old_readings_change_nothing() -> None:
    events, result = run([20, point(70, T0 + STEP, partial=True)])
    assert events == []
    assert result.states["BTCUSDT"].last.score == 20
    assert result.ignored == ("BTCUSDT",)
    stale = point(70, T0 + STEP - P.stale_after - timedelta(seconds=1))
    events, result = run([20, stale])
    assert events == []
    assert result.states["BTCUSDT"].confirmed_band is Band.LEAN


def test_squeeze_risk_entry_and_bias_flip() -> None:
    squeeze = point(45, T0 + STEP, regime=Regime.LONG_SQUEEZE_RISK)
    events, _ = run([40, squeeze])
    assert [e.kind for _, e in events] == [EventKind.SQUEEZE_RISK]
    flip = point(45, T0 + STEP, bias=Bias.SHORT, regime=Regime.SHORT_BIAS)
    events, _ = run([40, flip])
    assert [e.kind for _, e in events] == [EventKind.BIAS_FLIP]
    low_flip = point(20, T0 + STEP, bias=Bias.SHORT, regime=Regime.SHORT_BIAS)
    assert run([20, low_flip])[0] == []  # flips in lean are noise


def test_event_ids_are_deterministic_and_name_the_data_time() -> None:
    first, _ = run([10, 40])
    second, _ = run([10, 40])
    assert [e.event_id for _, e in first] == [e.event_id for _, e in second]
    assert first[0][1].event_id == f"binanceusdm:BTCUSDT:band_up:{(T0 + STEP).isoformat()}"


edges = st.sampled_from(P.band_floors)


@given(edge=edges, offsets=st.lists(st.integers(min_value=-10, max_value=10), min_size=2, max_size=120))
def test_oscillating_around_an_edge_alerts_at_most_once_per_cooldown_per_kind(
    edge: int, offsets: list[int]
) -> None:
    events, _ = run([edge + o for o in offsets])
    for kind in EventKind:
        times = [t for t, e in events if e.kind is kind]
        assert all(b - a >= P.cooldown for a, b in pairwise(times)), (kind, times)


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=60))
def test_replaying_a_cycle_raises_nothing_new(scores: list[int]) -> None:
    _, result = run(scores)
    now = T0 + (len(scores) - 1) * STEP
    again = diff("binanceusdm", result.states, [point(scores[-1], now)], now, P)
    assert again.events == ()
    assert again.states == result.states


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=60))
def test_every_event_matches_a_real_change_of_confirmed_band_or_regime(scores: list[int]) -> None:
    events, _ = run(scores)
    for _, event in events:
        if event.kind is EventKind.BAND_UP:
            assert event.new_band.rank > event.old_band.rank
            assert event.after.score >= P.band_floors[event.new_band.rank - 1]
        if event.kind is EventKind.BAND_DOWN:
            assert event.new_band.rank < event.old_band.rank
            assert event.after.score < P.band_floors[event.old_band.rank - 1]


@given(edge=edges, offsets=st.lists(st.integers(min_value=-10, max_value=10), min_size=2, max_size=120))
def test_a_flapping_score_costs_at_most_one_band_message_per_cooldown(edge: int, offsets: list[int]) -> None:
    events, _ = run([edge + o for o in offsets])
    times = [t for t, e in events if e.kind in (EventKind.BAND_UP, EventKind.BAND_DOWN)]
    assert all(b - a >= P.cooldown for a, b in pairwise(times)), times


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=2, max_size=80))
def test_what_was_announced_is_never_more_than_a_cooldown_behind(scores: list[int]) -> None:
    # Hold the last score for a cooldown: by then the announced band must equal the confirmed one.
    steps = int(P.cooldown / STEP) + 1
    events, result = run(scores + [scores[-1]] * steps)
    state = result.states["BTCUSDT"]
    said = [e for _, e in events if e.kind in (EventKind.BAND_UP, EventKind.BAND_DOWN)]
    told = said[-1].new_band if said else band_for(scores[0], P.band_floors)
    # Told the confirmed band, or the score's own band when only hysteresis holds the former up.
    assert told in (state.confirmed_band, band_for(scores[-1], P.band_floors))
