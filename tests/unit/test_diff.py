"""The diff engine: table tests for each rule and hypothesis properties against spam."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from bot.core.bands import band_for
from bot.core.diff import DiffParams, DiffResult, _held_by_two, confirmed_band, diff, held_band
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


def test_upward_crossing_needs_two_readings_and_jumps_are_one_event() -> None:
    assert kinds(run([10, 36])[0]) == []  # one reading is not a crossing yet
    assert kinds(run([10, 36, 36])[0]) == [(EventKind.BAND_UP, Band.NEUTRAL, Band.STRETCHED)]
    assert kinds(run([10, 75, 75])[0]) == [(EventKind.BAND_UP, Band.NEUTRAL, Band.STRESSED)]
    # The band both readings support: the lower of the two.
    assert kinds(run([10, 75, 40])[0]) == [(EventKind.BAND_UP, Band.NEUTRAL, Band.STRETCHED)]


def test_a_single_noisy_reading_moves_nothing() -> None:
    events, result = run([10, 10, 40, 10, 40, 10, 80, 10])
    assert events == []
    assert result.states["BTCUSDT"].confirmed_band is Band.NEUTRAL


def test_downward_crossing_needs_the_hysteresis_margin_on_two_readings() -> None:
    assert kinds(run([40, 40, 27, 27])[0]) == []  # 27 is 8 below 35: not yet
    assert kinds(run([40, 40, 26, 40])[0]) == []  # one reading below is not a crossing
    assert kinds(run([40, 40, 26, 26])[0]) == [(EventKind.BAND_DOWN, Band.STRETCHED, Band.LEAN)]


def test_confirmed_band_rules() -> None:
    assert confirmed_band(Band.STRETCHED, 27, P) is Band.STRETCHED
    assert confirmed_band(Band.STRETCHED, 26, P) is Band.LEAN
    assert confirmed_band(Band.STRESSED, 5, P) is Band.NEUTRAL
    assert confirmed_band(Band.LEAN, 70, P) is Band.STRESSED


def test_escalation_goes_through_at_once() -> None:
    events, _ = run([20, 20, 40, 40, 65, 65])
    assert kinds(events) == [
        (EventKind.BAND_UP, Band.LEAN, Band.STRETCHED),
        (EventKind.BAND_UP, Band.STRETCHED, Band.STRESSED),
    ]


def test_no_repeat_while_the_situation_holds_however_long() -> None:
    events, _ = run([20, 20, 40] + [45] * 40)  # 3+ hours in stretched
    assert len(events) == 1


def test_a_step_down_inside_the_alerting_bands_is_not_news_nor_is_the_return() -> None:
    events, result = run([20, 20, 70, 70] + [45] * 40 + [70] * 5)
    assert kinds(events) == [(EventKind.BAND_UP, Band.LEAN, Band.STRESSED)]
    assert result.states["BTCUSDT"].confirmed_band is Band.STRESSED


def test_a_cooling_is_announced_below_stretched_once_the_reversal_window_has_passed() -> None:
    events, _ = run([20, 20, 40, 40] + [20] * 40)
    assert [(t - T0, e.kind, e.old_band, e.new_band) for t, e in events] == [
        (3 * STEP, EventKind.BAND_UP, Band.LEAN, Band.STRETCHED),
        (3 * STEP + P.reversal_window, EventKind.BAND_DOWN, Band.STRETCHED, Band.LEAN),
    ]
    back_up, _ = run([20, 20, 40, 40] + [20] * 12 + [40] * 30)  # it recovered before the window ended
    assert [e.kind for _, e in back_up] == [EventKind.BAND_UP]


def test_a_new_rise_after_a_cooling_waits_for_the_reversal_window() -> None:
    events, _ = run([20, 20, 40, 40] + [20] * 30 + [40] * 30)
    assert [(t - T0, e.kind) for t, e in events] == [
        (3 * STEP, EventKind.BAND_UP),
        (3 * STEP + P.reversal_window, EventKind.BAND_DOWN),
        (3 * STEP + 2 * P.reversal_window, EventKind.BAND_UP),
    ]
    # Unless it climbs above the band last announced on the way up.
    higher, _ = run([20, 20, 40, 40] + [20] * 30 + [70] * 3)
    assert [e.kind for _, e in higher] == [EventKind.BAND_UP, EventKind.BAND_DOWN, EventKind.BAND_UP]
    assert higher[-1][1].new_band is Band.STRESSED


def test_a_held_back_change_is_not_told_on_a_reading_that_swung_back() -> None:
    # Cooled to lean (held back by the window), then one reading of 40 exactly when the window ends.
    window = int(P.reversal_window / STEP)
    scores = [20, 20, 40, 40] + [20] * (window - 1) + [40, 20]
    events, _ = run(scores)
    assert [(t - T0, e.kind, e.after.score) for t, e in events] == [
        (3 * STEP, EventKind.BAND_UP, 40),
        (3 * STEP + P.reversal_window + STEP, EventKind.BAND_DOWN, 20),
    ]


def test_a_reading_after_a_gap_waits_for_the_next_one() -> None:
    late = point(40, T0 + STEP + P.stale_after + STEP)
    events, _ = run([10, late])
    assert events == []


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
    first, _ = run([10, 40, 40])
    second, _ = run([10, 40, 40])
    assert [e.event_id for _, e in first] == [e.event_id for _, e in second]
    assert first[0][1].event_id == f"binanceusdm:BTCUSDT:band_up:{(T0 + 2 * STEP).isoformat()}"


edges = st.sampled_from(P.band_floors)
BAND_KINDS = (EventKind.BAND_UP, EventKind.BAND_DOWN)


@given(edge=edges, offsets=st.lists(st.integers(min_value=-10, max_value=10), min_size=2, max_size=120))
def test_oscillating_around_an_edge_never_reverses_within_the_window(edge: int, offsets: list[int]) -> None:
    events, _ = run([edge + o for o in offsets])
    band_events = [(t, e) for t, e in events if e.kind in BAND_KINDS]
    for (t1, e1), (t2, e2) in pairwise(band_events):
        if e1.kind is not e2.kind:
            assert t2 - t1 >= P.reversal_window, (e1.kind, t1, e2.kind, t2)
        else:  # the same direction twice is only ever a further step that way
            assert e2.new_band.rank != e1.new_band.rank
    for kind in (EventKind.SQUEEZE_RISK, EventKind.BIAS_FLIP):
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
            assert event.new_band.rank < P.announce_down_below.rank
            assert event.after.score < P.band_floors[event.old_band.rank - 1]


@given(edge=edges, offsets=st.lists(st.integers(min_value=-10, max_value=10), min_size=2, max_size=288))
def test_a_flapping_score_costs_at_most_one_reversal_per_window(edge: int, offsets: list[int]) -> None:
    events, _ = run([edge + o for o in offsets])
    said = [e for _, e in events if e.kind in BAND_KINDS]
    window_steps = int(P.reversal_window / STEP)
    # Up, down, up ... around one edge: at most one band message per reversal window, plus the first.
    assert len(said) <= 1 + len(offsets) // window_steps, [(e.kind, e.new_band) for e in said]


@given(st.lists(st.integers(min_value=0, max_value=100), min_size=2, max_size=80))
def test_what_was_announced_is_never_more_than_the_window_behind(scores: list[int]) -> None:
    # Hold the last score for the window: by then what was said must match the held band,
    # except a step down that stays inside the alerting bands, which is never announced.
    steps = int(P.reversal_window / STEP) + 2
    events, result = run(scores + [scores[-1]] * steps)
    state = result.states["BTCUSDT"]
    said = [e for _, e in events if e.kind in BAND_KINDS]
    told = said[-1].new_band if said else band_for(scores[0], P.band_floors)
    quiet_step_down = (
        state.confirmed_band.rank < told.rank and state.confirmed_band.rank >= P.announce_down_below.rank
    )
    # Or the score's own band, when only hysteresis holds the held band up.
    own = band_for(scores[-1], P.band_floors)
    assert told in (state.confirmed_band, own) or quiet_step_down, (told, state.confirmed_band)


@given(st.sampled_from(list(Band)), st.lists(st.integers(min_value=0, max_value=100), min_size=1, max_size=3))
def test_held_band_is_its_definition(confirmed: Band, scores: list[int]) -> None:
    # Up to the lowest band when every score is higher; down to the highest confirmed band
    # when every score is a margin below; else unchanged.
    p = DiffParams()
    raised = [band_for(s, p.band_floors) for s in scores]
    lowered = [confirmed_band(confirmed, s, p) for s in scores]
    if all(b.rank > confirmed.rank for b in raised):
        expected = min(raised, key=lambda b: b.rank)
    elif all(b.rank < confirmed.rank for b in lowered):
        expected = max(lowered, key=lambda b: b.rank)
    else:
        expected = confirmed
    assert held_band(confirmed, scores, p) is expected


@given(
    st.sampled_from(list(Band)),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=20),
)
def test_the_two_reading_hold_is_held_band(confirmed: Band, first: int, second: int, hysteresis: int) -> None:
    # The diff's usual call (this reading and the previous one) has a path of its own.
    p = DiffParams(hysteresis=hysteresis)
    assert _held_by_two(confirmed, first, second, p) is held_band(confirmed, [first, second], p)
