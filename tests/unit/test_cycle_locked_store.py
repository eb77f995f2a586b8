"""A cycle or a backfill slice whose store meets a locked database (``StorageBusyError``).

The real store rolls the whole transaction back when it fails, so the fakes below refuse
before writing anything: a retry then stores it once, and a second refusal loses it loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.core.diff import DiffParams
from bot.core.market import MarketSnapshot
from bot.core.params import DEFAULT_PARAMS
from bot.core.records import CycleSaved
from bot.errors import StorageBusyError, StorageError
from bot.render.documents import alert_document
from tests.fakes import FakeStorage
from tests.unit.test_cycle import STEP, T0, ScriptedSource

LOCKED = StorageBusyError("cannot store: OperationalError: database is locked")


class LockedCycles:
    """The fake cycle store, refusing its next ``refusals`` stores as a locked SQLite would."""

    def __init__(self, storage: FakeStorage, refusals: int) -> None:
        self._inner = storage.cycles
        self.refusals = refusals

    def save_cycle(self, **kwargs: Any) -> CycleSaved:
        if self.refusals:
            self.refusals -= 1
            raise LOCKED
        return self._inner.save_cycle(**kwargs)


class LockedSnapshots:
    """The fake snapshot store, refusing its next ``refusals`` ``add_snapshots``."""

    def __init__(self, storage: FakeStorage, refusals: int) -> None:
        self._inner = storage.snapshots
        self.refusals = refusals
        self.error: StorageError = LOCKED

    def add_snapshots(self, snapshots: Sequence[MarketSnapshot]) -> int:
        if self.refusals:
            self.refusals -= 1
            raise self.error
        return self._inner.add_snapshots(snapshots)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def build(
    storage: FakeStorage, *, cycle_refusals: int = 0, backfill_refusals: int = 0
) -> tuple[CollectionCycle, LockedCycles, LockedSnapshots]:
    cycles, snapshots = LockedCycles(storage, cycle_refusals), LockedSnapshots(storage, backfill_refusals)
    deps = CycleDeps(
        "fakex",
        ScriptedSource(),
        snapshots,  # type: ignore[arg-type]
        storage.alert_states,
        storage.chats,
        storage.outbox,
        cycles,  # type: ignore[arg-type]
    )
    return CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document), cycles, snapshots


def _cycle_times(storage: FakeStorage) -> list[object]:
    history = storage.snapshots.market_history("fakex", T0, T0 + 10 * STEP)
    return sorted({ts for ts, _ in history.oi.get("BTCUSDT", [])})


async def test_a_cycle_refused_once_for_a_locked_database_is_stored_by_its_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = FakeStorage()
    cycle, cycles, _ = build(storage, cycle_refusals=1)
    await cycle.backfill(T0 - STEP)
    with caplog.at_level(logging.WARNING):
        report = await cycle.run(T0)
    assert cycles.refusals == 0
    assert report.scored == 1
    assert _cycle_times(storage) == [T0]
    assert storage.scores.latest_scores("fakex", since=T0)
    assert "fakex: storing the cycle: the database was locked" in caplog.text


async def test_a_cycle_refused_twice_fails_loudly_and_the_next_one_is_stored() -> None:
    storage = FakeStorage()
    cycle, _, _ = build(storage, cycle_refusals=2)
    with pytest.raises(StorageBusyError):
        await cycle.run(T0)  # the runner logs it: "STALE: cycle failed (...)"
    assert _cycle_times(storage) == []
    await cycle.run(T0 + STEP)
    assert _cycle_times(storage) == [T0 + STEP]


async def test_a_backfill_slice_refused_once_is_stored_by_its_retry() -> None:
    storage = FakeStorage()
    cycle, _, snapshots = build(storage, backfill_refusals=1)
    assert await cycle.backfill(T0) == 2
    assert snapshots.refusals == 0
    day = storage.snapshots.market_history("fakex", T0 - 25 * 12 * STEP, T0).oi["BTCUSDT"]
    assert len(day) >= 24 * 12


async def test_a_backfill_slice_refused_twice_is_reported_and_collection_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    storage = FakeStorage()
    cycle, _, _ = build(storage, backfill_refusals=2)
    with caplog.at_level(logging.WARNING):
        assert await cycle.backfill(T0) == 0  # no exception: start-up goes on
    assert "fakex: backfill of 2 symbols not stored" in caplog.text
    assert "database is locked" in caplog.text
    report = await cycle.run(T0)
    assert report.scored == 1 and report.partial == 1  # no day of history behind it
    assert _cycle_times(storage) == [T0]


async def test_a_backfill_slice_failing_otherwise_than_locked_is_not_swallowed() -> None:
    # Only a busy database is worth going on without a slice: a broken one (disk, schema)
    # must surface, not leave every symbol partial for a day in silence.
    storage = FakeStorage()
    cycle, _, snapshots = build(storage, backfill_refusals=1)
    snapshots.error = StorageError("cannot store snapshots: OperationalError: disk I/O error")
    with pytest.raises(StorageError, match="disk I/O error"):
        await cycle.backfill(T0)
