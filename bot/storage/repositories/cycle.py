"""One collection cycle's writes as a single unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.events import SymbolState
from bot.core.market import MarketSnapshot
from bot.core.records import CycleSaved, LeaseClaim, OutboxMessage, ScoreRecord
from bot.errors import LeaseLostError
from bot.storage.db import write_transaction
from bot.storage.models import LeaseRow
from bot.storage.repositories._common import execute_dml
from bot.storage.repositories.alert_states import upsert_alert_states
from bot.storage.repositories.leases import later_expiry
from bot.storage.repositories.outbox import enqueue_messages
from bot.storage.repositories.scores import insert_scores
from bot.storage.repositories.snapshots import insert_snapshots


class SqlCycleStore:
    """``bot.ports.CycleStore`` on SQLAlchemy: one transaction, one commit."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

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
        # Alert state and the alerts it caused commit together or not at all: a crash can
        # neither lose alerts (state saved, outbox not) nor repeat them (outbox saved,
        # state not, so the next cycle fires again).
        with write_transaction(self._sessions, "store a cycle") as session:
            if lease is not None:
                # Fencing: a collector that stalled past its lease while another took over
                # must not store the cycle it was in the middle of.
                held = [LeaseRow.name == lease.name, LeaseRow.holder == lease.holder]
                if lease.since is not None:
                    held.append(LeaseRow.acquired_at == lease.since)
                renew = update(LeaseRow).where(*held).values(expires_at=later_expiry(lease.expires_at))
                if execute_dml(session, renew) != 1:
                    raise LeaseLostError(f"lease {lease.name} is no longer ours; the cycle was not stored")
            return CycleSaved(
                snapshots=insert_snapshots(session, snapshots),
                scores=insert_scores(session, scores),
                alert_states=upsert_alert_states(session, exchange, alert_states),
                outbox=enqueue_messages(session, outbox),
            )
