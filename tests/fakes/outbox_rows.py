"""What the outbox holds for one message, read past the port as an operator reads the table.

No product code reads one entry back (delivery claims the due ones, daily caps count
events), so ``OutboxStore`` has no such read. Tests that check what a send, a failure or a
purge left behind read the store's state directly: the fake's entries or the SQL table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.records import ChatKey, OutboxStatus
from bot.storage.models import OutboxRow
from tests.fakes.chat_stores import FakeOutboxStore


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One stored message's delivery state (the columns every store keeps).

    ``chat`` is where its chat lives now (``ChatStore.chat_by_ref``), as a claim would say.
    """

    chat_ref: int
    chat: ChatKey | None
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    event_count: int
    parts_sent: int


_COLUMNS = tuple(name for name in OutboxRecord.__dataclass_fields__ if name != "chat")


def outbox_record(stores: Any, key: str) -> OutboxRecord | None:
    """The message with idempotency ``key`` as ``stores`` (FakeStorage or Storage) holds it."""
    if isinstance(stores.outbox, FakeOutboxStore):
        entry = next((e for e in stores.outbox.entries.values() if e.idempotency_key == key), None)
        if entry is None:
            return None
        values = {name: getattr(entry, name) for name in _COLUMNS}
    else:
        with Session(stores.engine) as session:
            row = session.scalars(select(OutboxRow).where(OutboxRow.idempotency_key == key)).first()
            if row is None:
                return None
            values = {name: getattr(row, name) for name in _COLUMNS}
    chat = stores.chats.chat_by_ref(values["chat_ref"])
    return OutboxRecord(
        **{**values, "status": OutboxStatus(values["status"]), "chat": None if chat is None else chat.key}
    )


def stored_outbox(stores: Any, key: str) -> OutboxRecord:
    """``outbox_record``, which must exist."""
    found = outbox_record(stores, key)
    assert found is not None, f"no outbox entry {key!r}"
    return found
