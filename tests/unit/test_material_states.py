"""A cycle stores only the alert states that changed materially, and loses nothing by it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from bot.core.diff import material_changes, reading_hour
from bot.core.events import EventKind, LastAlert, SymbolState
from bot.core.models import Band
from bot.storage.models import hour_of
from tests.fakes import FakeStorage
from tests.fakes.contract import reading
from tests.fakes.material_cycles import START, SYMBOLS, Planned, plans, run_plan

# Hypothesis takes naive bounds and adds the zone itself.
moments = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2035, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
alerts = st.lists(
    st.builds(LastAlert, st.sampled_from(EventKind), moments, st.integers(0, 3), st.booleans()),
    max_size=2,
    unique_by=lambda a: a.kind,
).map(tuple)


@st.composite
def state_pairs(draw: st.DrawFn) -> tuple[dict[str, SymbolState], dict[str, SymbolState]]:
    """A previous state per symbol and the next cycle's: kept, moved in time, rebanded, re-alerted or new."""
    previous: dict[str, SymbolState] = {}
    states: dict[str, SymbolState] = {}
    for symbol in draw(st.lists(st.sampled_from((*SYMBOLS, "DUSDT", "EUSDT")), unique=True)):
        ts = draw(moments)
        old = SymbolState(symbol, draw(st.sampled_from(Band)), reading(ts), draw(alerts))
        change = draw(st.sampled_from(("kept", "equal", "moved", "band", "alerts", "new", "gone")))
        if change != "new":
            previous[symbol] = old
        if change == "gone":
            continue
        later = ts + draw(st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=3)))
        states[symbol] = {
            "kept": old,
            "equal": replace(old),
            "moved": replace(old, last=reading(later, score=draw(st.integers(0, 100)))),
            "band": replace(old, confirmed_band=draw(st.sampled_from(Band))),
            "alerts": replace(old, alerts=draw(alerts)),
            "new": old,
        }[change]
    return previous, states


@given(state_pairs())
def test_a_state_is_written_when_new_or_its_band_alerts_or_reading_hour_changed(
    pair: tuple[dict[str, SymbolState], dict[str, SymbolState]],
) -> None:
    previous, states = pair
    written = {s.symbol for s in material_changes(previous, states)}
    assert written <= set(states)
    for symbol, state in states.items():
        old = previous.get(symbol)
        material = old is None or (
            old.confirmed_band != state.confirmed_band
            or old.alerts != state.alerts
            or old.last.ts.replace(minute=0, second=0, microsecond=0)
            != state.last.ts.replace(minute=0, second=0, microsecond=0)
        )
        assert (symbol in written) == material, symbol


@given(
    moments, st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3))])
)
def test_the_reading_hour_is_the_utc_clock_hour_the_storage_buckets_by(
    moment: datetime, zone: timezone
) -> None:
    local = moment.astimezone(zone)
    assert reading_hour(local) == hour_of(local) == hour_of(moment.replace(minute=0, second=0, microsecond=0))


@given(plans)
def test_the_fake_stores_load_back_the_states_held_in_memory(plan: list[Planned]) -> None:
    run_plan(FakeStorage(), "fakex", plan)


def test_the_plans_start_just_before_an_hour_ends() -> None:
    assert START.minute >= 45  # so the first cycles cross an hour
