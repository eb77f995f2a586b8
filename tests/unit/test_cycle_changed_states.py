"""``changed_states``: the states a cycle must store are exactly those whose value changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bot.app.cycle import changed_states
from bot.core.events import EventKind, LastAlert, Reading, SymbolState
from bot.core.models import Band, Bias, Regime

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def state(symbol: str, minutes: int, score: int, band: Band, alert: bool) -> SymbolState:
    reading = Reading(
        ts=T0 + timedelta(minutes=minutes),
        score=score,
        band=band,
        bias=Bias.LONG,
        regime=Regime.LONG_BIAS,
        label="long bias",
    )
    alerts = (LastAlert(EventKind.BAND_UP, T0, 1, open=True),) if alert else ()
    return SymbolState(symbol=symbol, confirmed_band=band, last=reading, alerts=alerts)


states_ = st.builds(
    state,
    symbol=st.sampled_from(["A", "B", "C", "D"]),
    minutes=st.integers(0, 2),
    score=st.integers(0, 2),
    band=st.sampled_from([Band.NEUTRAL, Band.LEAN]),
    alert=st.booleans(),
)


@given(
    before=st.dictionaries(st.sampled_from(["A", "B", "C", "D"]), states_),
    edits=st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D", "E"]), states_, st.booleans())),
)
def test_changed_states_are_those_whose_value_differs(
    before: dict[str, SymbolState], edits: list[tuple[str, SymbolState, bool]]
) -> None:
    after = dict(before)
    for symbol, new, copy in edits:
        if copy and symbol in before:
            # An equal value in a new object (every field copied) is not a change.
            old = before[symbol]
            after[symbol] = replace(old, last=replace(old.last))
        else:
            after[symbol] = replace(new, symbol=symbol)
    expected = [s for sym, s in after.items() if before.get(sym) != s]
    assert changed_states(before, after) == expected


def test_an_equal_time_in_another_zone_is_compared_by_value() -> None:
    old = state("A", 0, 1, Band.LEAN, alert=False)
    # The same instant written in another zone: the readings are equal, so is the state.
    moved = old.last.ts.astimezone(timezone(timedelta(hours=2)))
    same = replace(old, last=replace(old.last, ts=moved))
    assert changed_states({"A": old}, {"A": same}) == []
    assert changed_states({"A": old}, {"A": replace(same, confirmed_band=Band.NEUTRAL)}) != []
