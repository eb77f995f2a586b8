"""Every SQL store wired to one engine: what the composition root asks for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from bot.storage import migrate
from bot.storage.db import checkpoint_in_background, create_db_engine, session_factory
from bot.storage.repositories.alert_states import SqlAlertStateStore
from bot.storage.repositories.chats import SqlChatStore
from bot.storage.repositories.cycle import SqlCycleStore
from bot.storage.repositories.digests import SqlDigestLog
from bot.storage.repositories.leases import SqlLeaseStore
from bot.storage.repositories.outbox import SqlOutboxStore
from bot.storage.repositories.scores import SqlScoreStore
from bot.storage.repositories.snapshots import SqlSnapshotStore
from bot.storage.repositories.webhooks import SqlWebhookStore
from bot.storage.retention import SqlRetention
from bot.storage.wal_checkpoint import WalCheckpointer


@dataclass(frozen=True, slots=True)
class Storage:
    """The stores of one database; each attribute implements the port of the same name."""

    engine: Engine
    snapshots: SqlSnapshotStore
    scores: SqlScoreStore
    chats: SqlChatStore
    alert_states: SqlAlertStateStore
    outbox: SqlOutboxStore
    digests: SqlDigestLog
    cycles: SqlCycleStore
    retention: SqlRetention
    leases: SqlLeaseStore
    webhooks: SqlWebhookStore
    checkpointer: WalCheckpointer | None = None
    """A SQLite file's WAL checkpointer (``bot.storage.wal_checkpoint``); None on PostgreSQL."""

    def close(self) -> None:
        """Close every pooled connection (at shutdown, and in tests), checkpointing once more."""
        self.engine.dispose()
        if self.checkpointer is not None:
            self.checkpointer.close()


def open_storage(url: str | URL, *, upgrade: bool = True) -> Storage:
    """Open the database at ``url``, first migrating it to head unless ``upgrade`` is False.

    Raises:
        StorageError: the URL is bad, the database cannot be opened or migrated.
    """
    if upgrade:
        migrate.upgrade(url)
    engine = create_db_engine(url)
    checkpointer = checkpoint_in_background(engine)
    sessions = session_factory(engine)
    return Storage(
        engine=engine,
        checkpointer=checkpointer,
        snapshots=SqlSnapshotStore(sessions),
        scores=SqlScoreStore(sessions),
        chats=SqlChatStore(sessions),
        alert_states=SqlAlertStateStore(sessions),
        outbox=SqlOutboxStore(sessions),
        digests=SqlDigestLog(sessions),
        cycles=SqlCycleStore(sessions),
        retention=SqlRetention(sessions),
        leases=SqlLeaseStore(sessions),
        webhooks=SqlWebhookStore(sessions),
    )
