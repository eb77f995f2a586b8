"""A market source whose data clock has stopped, and a collection cycle over it.

Every cycle's snapshots carry the same data time, and the backfill's newest point is that
time too (the backfill and the first cycle on one 5-minute mark). Newest-snapshot-time
bookkeeping sees nothing move across cycles here, which is what the market-view tests need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.app.cycle import CollectionCycle, CycleDeps
from bot.core.collection import FetchReport, OiPoint, SymbolFailure
from bot.core.diff import DiffParams
from bot.core.market import MarketSnapshot
from bot.core.params import DEFAULT_PARAMS
from bot.ports import AlertStateStore, ChatStore, CycleStore, OutboxStore, SnapshotStore
from bot.render.documents import alert_document

STEP = timedelta(minutes=5)


@dataclass
class StalledSource:
    """BTC and ETH on ``exchange``, always at ``data_time``; symbols in ``failing`` fail."""

    exchange: str
    data_time: datetime
    failing: set[str] = field(default_factory=set)
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")

    async def load_universe(self) -> list[str]:
        return list(self.symbols)

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        ok = [s for s in self.symbols if s not in self.failing]
        return FetchReport(
            snapshots=tuple(self._snapshot(s) for s in ok),
            failures=tuple(SymbolFailure(s, "timeout") for s in self.symbols if s in self.failing),
            requests=len(self.symbols),
            weight_used=None,
            duration_s=0.01,
        )

    def _snapshot(self, symbol: str) -> MarketSnapshot:
        oi = 1000.0 if symbol == "BTCUSDT" else 500.0
        return MarketSnapshot(
            self.exchange, symbol, self.data_time, oi, oi * 100.0, 100.2, 100.0, 100.2, 0.0004, 8.0, None, 1e6
        )

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        # Every 5 minutes up to and including the stalled data time (not beyond).
        points, ts = [], self.data_time
        while ts >= since:
            points.append(OiPoint(ts, 900.0, 90_000.0))
            ts -= STEP
        return points[::-1]

    async def close(self) -> None:
        return None


class CycleStores(Protocol):
    """What a collection cycle needs of a store bundle (the fakes or the SQL facade)."""

    snapshots: SnapshotStore
    alert_states: AlertStateStore
    chats: ChatStore
    outbox: OutboxStore
    cycles: CycleStore


def stalled_cycle(stores: CycleStores, source: StalledSource) -> CollectionCycle:
    """The real collection cycle over ``stores`` and ``source``."""
    deps = CycleDeps(
        source.exchange,
        source,
        stores.snapshots,
        stores.alert_states,
        stores.chats,
        stores.outbox,
        stores.cycles,
    )
    return CollectionCycle(deps, DEFAULT_PARAMS, DiffParams(), alert_document)
