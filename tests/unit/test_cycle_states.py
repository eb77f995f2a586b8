"""The cycle keeps the alert states in memory, fenced by the collector lease's tenure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.app.lease import Lease, collector_lease
from bot.core.collection import FetchReport, OiPoint
from bot.core.diff import DiffParams
from bot.core.events import SymbolState
from bot.core.market import MarketSnapshot
from bot.core.params import DEFAULT_PARAMS
from bot.errors import LeaseLostError
from bot.render.documents import alert_document
from tests.fakes import FakeStorage
from tests.fakes.market_stores import FakeAlertStateStore

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
TTL = timedelta(minutes=3)
EX = "fakex"


def snap(symbol: str, ts: datetime, oi: float) -> MarketSnapshot:
    return MarketSnapshot(EX, symbol, ts, oi, oi * 100.0, 100.0, 100.0, 100.0, 0.0001, 8.0, None, 1e6)


@dataclass
class Market:
    """Snapshots of ``symbols`` with a climbing OI; ``during_fetch`` runs inside each fetch."""

    symbols: list[str]
    during_fetch: Callable[[datetime], None] | None = None
    fetched: int = 0

    async def load_universe(self) -> list[str]:
        return list(self.symbols)

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        self.fetched += 1
        if self.during_fetch is not None:
            self.during_fetch(now)
        snaps = tuple(snap(s, now, 1000.0 + 10 * self.fetched) for s in self.symbols)
        return FetchReport(snapshots=snaps, failures=(), requests=1, weight_used=None, duration_s=0.0)

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        return []

    async def close(self) -> None:
        return None


class CountedStates:
    """The shared fake state store, counting one process's reads."""

    def __init__(self, shared: FakeAlertStateStore) -> None:
        self.shared = shared
        self.reads = 0

    def load_alert_states(self, exchange: str) -> dict[str, SymbolState]:
        self.reads += 1
        return self.shared.load_alert_states(exchange)

    def save_alert_states(self, exchange: str, states: Sequence[SymbolState]) -> None:
        self.shared.save_alert_states(exchange, states)


@dataclass
class Process:
    """One collecting process: its lease, its cycle, what it read."""

    lease: Lease
    cycle: CollectionCycle
    states: CountedStates
    market: Market

    async def run(self, now: datetime) -> None:
        assert self.lease.hold(now)
        await self.cycle.run(now)


def with_history(storage: FakeStorage, symbols: list[str]) -> FakeStorage:
    """A day of stored history, so the symbols score complete (partial scores keep no state)."""
    points = int(timedelta(hours=25) / STEP)
    storage.snapshots.add_snapshots(
        [snap(s, T0 - k * STEP, 1000.0) for s in symbols for k in range(1, points)]
    )
    return storage


def process(storage: FakeStorage, holder: str, symbols: list[str]) -> Process:
    lease = collector_lease(storage.leases, EX, ttl=TTL, holder=holder)
    states = CountedStates(shared=storage.alert_states)
    market = Market(symbols)
    deps = CycleDeps(EX, market, storage.snapshots, states, storage.chats, storage.outbox, storage.cycles)
    cycle = CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document, fence=lease.claim)
    return Process(lease, cycle, states, market)


async def test_the_states_are_read_once_while_the_lease_is_held() -> None:
    storage = with_history(FakeStorage(), ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    a = process(storage, "a", ["BTCUSDT", "ETHUSDT"])
    for i in range(4):
        await a.run(T0 + i * STEP)
    assert a.states.reads == 1
    # What the cycle remembers is exactly what it stored.
    assert a.cycle.remembered_states() == storage.alert_states.load_alert_states(EX)


async def test_a_process_that_lost_and_retook_the_lease_reads_the_states_again() -> None:
    storage = with_history(FakeStorage(), ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    a = process(storage, "a", ["BTCUSDT"])
    b = process(storage, "b", ["BTCUSDT", "SOLUSDT"])
    await a.run(T0)
    await a.run(T0 + STEP)
    # a stalls (it never learns it lost the lease); b takes over, collects, stops cleanly.
    stalled = T0 + STEP + TTL + timedelta(seconds=1)
    await b.run(stalled)
    b.lease.release()
    assert "SOLUSDT" in storage.alert_states.load_alert_states(EX)
    # a holds the lease again, in a new tenure: it must read what b wrote, not trust its memory.
    await a.run(stalled + STEP)
    assert a.states.reads == 2
    remembered = a.cycle.remembered_states()
    assert remembered is not None
    assert "SOLUSDT" in remembered
    assert remembered == storage.alert_states.load_alert_states(EX)


async def test_a_writer_fenced_out_mid_cycle_writes_nothing_and_reads_again() -> None:
    storage = with_history(FakeStorage(), ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    a = process(storage, "a", ["BTCUSDT"])
    b = process(storage, "b", ["BTCUSDT", "SOLUSDT"])
    await a.run(T0)
    cut = T0 + STEP

    def handover(now: datetime) -> None:
        # While a fetches, its lease lapses, b collects a cycle and stops, and a's heartbeat
        # takes the lease again: a holds it now, but its cycle began in the older tenure.
        later = now + TTL + timedelta(seconds=1)
        assert b.lease.hold(later)
        b_state = snap("SOLUSDT", later, 500.0)
        storage.cycles.save_cycle(exchange=EX, snapshots=[b_state], lease=b.lease.claim(later))
        b.lease.release()
        assert a.lease.hold(later + timedelta(seconds=1))

    a.market.during_fetch = handover
    with pytest.raises(LeaseLostError):
        await a.cycle.run(cut)
    assert storage.snapshots.oi_at_many(EX, cut, timedelta(0)) == {}  # nothing of a's cycle stored
    assert storage.snapshots.latest_snapshot_time(EX) == cut + TTL + timedelta(seconds=1)  # b's
    assert a.cycle.remembered_states() is None
    a.market.during_fetch = None
    await a.run(cut + 2 * TTL)
    assert a.states.reads == 2
    assert a.cycle.remembered_states() == storage.alert_states.load_alert_states(EX)


async def test_without_keeping_states_every_cycle_reads_them() -> None:
    storage = with_history(FakeStorage(), ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    states = CountedStates(shared=storage.alert_states)
    deps = CycleDeps(
        EX, Market(["BTCUSDT"]), storage.snapshots, states, storage.chats, storage.outbox, storage.cycles
    )
    cycle = CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document, keep_states=False)
    for i in range(3):
        await cycle.run(T0 + i * STEP)
    assert states.reads == 3
    assert cycle.remembered_states() is None
