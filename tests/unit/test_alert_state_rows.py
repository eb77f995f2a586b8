"""``upsert_alert_states`` compares a state's alerts with the stored ones as ``_mark_values``
tuples and builds the ``_mark_rows`` dictionaries only for the states it replaces: both
must say the same of every state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.events import EventKind, LastAlert, Reading, SymbolState
from bot.core.models import Band, Bias, Regime
from bot.storage.repositories.alert_states import _MARK_KEYS, _mark_rows, _mark_values

T0 = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)

alerts = st.lists(
    st.builds(
        LastAlert,
        kind=st.sampled_from(EventKind),
        at=st.integers(min_value=0, max_value=10_000).map(lambda m: T0 - timedelta(minutes=m)),
        severity=st.integers(min_value=0, max_value=3),
        open=st.booleans(),
    ),
    max_size=4,
    unique_by=lambda a: a.kind,
)


@given(alerts)
def test_mark_values_are_the_mark_rows_keys(found: list[LastAlert]) -> None:
    last = Reading(T0, 40, Band.STRETCHED, Bias.LONG, Regime.LONG_BIAS, "x", 1.0, 2.0, 3.0, 0.01, 0.1)
    state = SymbolState("BTCUSDT", Band.STRETCHED, last, tuple(found))
    rows = _mark_rows("binanceusdm", state)
    assert _mark_values(state) == [tuple(row[k] for k in _MARK_KEYS) for row in rows]
    assert len(rows) == len(found)
