"""The in-memory stores wired together, mirroring ``bot.storage.facade.Storage``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.core.events import SymbolState
from bot.core.market import MarketSnapshot
from bot.core.records import (
    CycleSaved,
    LeaseClaim,
    OutboxMessage,
    RetentionPolicy,
    RetentionReport,
    ScoreRecord,
)
from bot.errors import LeaseLostError
from tests.fakes.chat_stores import FakeChatStore, FakeDigestLog, FakeOutboxStore
from tests.fakes.leases import FakeLeaseStore
from tests.fakes.market_stores import FakeAlertStateStore, FakeScoreStore, FakeSnapshotStore
from tests.fakes.serialised import serialised


@serialised
class FakeCycleStore:
    """``bot.ports.CycleStore`` in memory: all or nothing, like the SQL transaction."""

    def __init__(self, storage: FakeStorage) -> None:
        self._storage = storage

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
        s = self._storage
        if lease is not None:
            held = s.leases.lease(lease.name)
            moved = lease.since is not None and s.leases.since.get(lease.name) != lease.since
            if held is None or held.holder != lease.holder or moved:
                raise LeaseLostError(f"lease {lease.name} is no longer ours; the cycle was not stored")
            s.leases.leases[lease.name] = replace(held, expires_at=max(held.expires_at, lease.expires_at))
        stores = (s.snapshots, s.scores, s.alert_states, s.outbox)
        saved = [store.checkpoint() for store in stores]
        try:
            return CycleSaved(
                snapshots=s.snapshots.add_snapshots(snapshots),
                scores=s.scores.insert(scores),
                alert_states=s.alert_states.upsert(exchange, alert_states),
                outbox=s.outbox.enqueue(outbox),
            )
        except BaseException:
            for store, state in zip(stores, saved, strict=True):
                store.restore(state)
            raise


@serialised
class FakeRetention:
    """``bot.ports.RetentionJob`` in memory."""

    def __init__(self, storage: FakeStorage) -> None:
        self._storage = storage

    def purge(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        s = self._storage
        return RetentionReport(
            snapshots=s.snapshots.purge_before(now - policy.snapshots),
            scores=s.scores.purge_before(now - policy.scores),
            outbox=s.outbox.purge_finished_before(now - policy.outbox),
            digests=s.digests.purge_before(now - policy.digests),
        )


class FakeStorage:
    """Every fake store, sharing state the way tables share a database."""

    def __init__(self) -> None:
        self.snapshots = FakeSnapshotStore()
        self.scores = FakeScoreStore()
        self.alert_states = FakeAlertStateStore(self.scores)
        self.chats = FakeChatStore()
        self.outbox = FakeOutboxStore(self.chats)
        self.digests = FakeDigestLog(self.chats)
        self.cycles = FakeCycleStore(self)
        self.retention = FakeRetention(self)
        self.leases = FakeLeaseStore()

    def close(self) -> None:
        """Nothing to release (mirrors ``Storage.close``)."""
