"""The cycle stores a state only when it changed materially; a restart goes on exactly as before."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.core.diff import DiffParams
from bot.core.events import AlertEvent, SymbolState
from bot.core.market import MarketSnapshot
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import CycleSaved, LeaseClaim, OutboxMessage, ScoreRecord
from bot.render.documents import alert_document
from tests.fakes import FakeStorage
from tests.unit.test_cycle import STEP, T0, ScriptedSource

CYCLES = 12  # 00:00 to 00:55: one hour; BTC's score climbs from the fifth cycle on


class CountedCycles:
    """The fake cycle store, keeping what each ``save_cycle`` wrote."""

    def __init__(self, storage: FakeStorage) -> None:
        self.storage = storage
        self.saved: list[CycleSaved] = []

    def save_cycle(
        self,
        *,
        exchange: str,
        snapshots: Sequence[MarketSnapshot] = (),
        scores: Sequence[ScoreRecord] = (),
        alert_states: Sequence[SymbolState] = (),
        outbox: Sequence[OutboxMessage] = (),
        lease: LeaseClaim | None = None,
    ) -> CycleSaved:
        saved = self.storage.cycles.save_cycle(
            exchange=exchange,
            snapshots=snapshots,
            scores=scores,
            alert_states=alert_states,
            outbox=outbox,
            lease=lease,
        )
        self.saved.append(saved)
        return saved


def process(storage: FakeStorage, counted: CountedCycles, source: ScriptedSource) -> CollectionCycle:
    """One collecting process on ``storage`` (a new one starts from what is stored)."""
    s = storage
    deps = CycleDeps("fakex", source, s.snapshots, s.alert_states, s.chats, s.outbox, counted)
    return CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document)


def events(alerts: Sequence[AlertEvent]) -> list[tuple[Any, ...]]:
    return [(e.event_id, e.kind, e.old_band, e.new_band, e.before, e.after) for e in alerts]


async def run(restart_after: int | None) -> tuple[list[list[tuple[Any, ...]]], CountedCycles, FakeStorage]:
    storage, source = FakeStorage(), ScriptedSource()
    counted = CountedCycles(storage)
    cycle = process(storage, counted, source)
    await cycle.backfill(T0)
    told = []
    for i in range(CYCLES):
        told.append(events((await cycle.run(T0 + i * STEP)).alerts))
        assert cycle.remembered_states() == storage.alert_states.load_alert_states("fakex")
        if i == restart_after:
            cycle = process(storage, counted, source)  # killed; a new process reads the states
    return told, counted, storage


async def test_a_cycle_where_only_readings_moved_within_the_hour_writes_no_state() -> None:
    _, counted, storage = await run(restart_after=None)
    # Every cycle scored BTC (complete after the backfill) and stored its score.
    assert [saved.scores for saved in counted.saved] == [1] * CYCLES
    written = [saved.alert_states for saved in counted.saved]
    assert written[0] == 1  # a new symbol's state
    assert written.count(0) >= CYCLES // 2, written  # most cycles only moved BTC's reading
    assert storage.alert_states.states[("fakex", "BTCUSDT")].last.ts < T0 + (CYCLES - 1) * STEP
    assert all(record.accepted for record in storage.scores.rows.values())


# After the first cycle (its state just written), and before each of the two alerting
# cycles (5 and 9), after cycles that wrote no state.
@pytest.mark.parametrize("restart_after", [0, 4, 8])
async def test_a_restart_goes_on_with_the_same_alerts(restart_after: int) -> None:
    straight, _, _ = await run(restart_after=None)
    restarted, counted, _ = await run(restart_after=restart_after)
    assert sum(len(told) for told in straight) >= 1  # the script does alert
    assert restarted == straight
    if restart_after:  # the restart rebuilt a reading newer than the stored state's
        assert counted.saved[restart_after].alert_states == 0
