"""The alert outbox: durable, idempotent, at-least-once delivery queue."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.document import Document, DocumentError, from_json, to_json
from bot.core.records import ChatKey, OutboxEntry, OutboxMessage, OutboxStatus, Platform, RetryPolicy
from bot.errors import StorageError
from bot.storage.db import transaction, write_transaction
from bot.storage.models import ChatRow, OutboxRow
from bot.storage.repositories._common import chunked, execute_dml

logger = logging.getLogger(__name__)

MAX_ERROR_LEN = 2000
"""Longest last-error text kept; exception messages can quote whole payloads."""

_DUE = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)


def enqueue_messages(session: Session, messages: Sequence[OutboxMessage]) -> int:
    """Insert messages whose key is not in the outbox yet; returns how many were inserted.

    Select-then-insert in the caller's transaction, so a re-enqueue (a cycle retried after
    a crash) is a no-op on every backend. A plain INSERT of a duplicate key still fails
    on the UNIQUE constraint: the database has the last word.
    """
    unique: dict[str, OutboxMessage] = {}
    for m in messages:
        unique.setdefault(m.idempotency_key, m)  # the first of duplicates wins
    keys = list(unique)
    for chunk in chunked(keys):
        stmt = select(OutboxRow.idempotency_key).where(OutboxRow.idempotency_key.in_(chunk))
        for key in session.scalars(stmt):
            unique.pop(key, None)
    rows = [
        {
            "idempotency_key": m.idempotency_key,
            "chat_ref": m.chat_ref,
            "payload": to_json(m.payload),
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": m.created_at,
            "last_error": None,
            "created_at": m.created_at,
            "sent_at": None,
            "event_count": m.event_count,
            "attachment": m.attachment,
            "parts_sent": 0,
        }
        for m in (unique[k] for k in keys if k in unique)
    ]
    if rows:
        session.execute(insert(OutboxRow), rows)
    return len(rows)


def _entry(row: OutboxRow, chat: ChatRow, document: Document) -> OutboxEntry:
    """The stored row as an entry, with its payload already read back (``document``)."""
    return OutboxEntry(
        id=row.id,
        idempotency_key=row.idempotency_key,
        chat_ref=row.chat_ref,
        chat=ChatKey(Platform(chat.platform), chat.chat_id, chat.thread_id or None),
        payload=document,
        status=OutboxStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        created_at=row.created_at,
        sent_at=row.sent_at,
        event_count=row.event_count,
        attachment=row.attachment,
        parts_sent=row.parts_sent,
    )


class SqlOutboxStore:
    """``bot.ports.OutboxStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        with write_transaction(self._sessions, "enqueue messages") as session:
            return enqueue_messages(session, messages)

    def claim_due(
        self,
        now: datetime,
        *,
        limit: int,
        claim_for: timedelta,
        platforms: Collection[Platform] | None = None,
    ) -> list[OutboxEntry]:
        only = () if platforms is None else (ChatRow.platform.in_([p.value for p in platforms]),)
        stmt = (
            select(OutboxRow, ChatRow)
            .join(ChatRow, ChatRow.id == OutboxRow.chat_ref)
            .where(OutboxRow.status.in_(_DUE), OutboxRow.next_attempt_at <= now, *only)
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(limit)
            # Several deliverers on PostgreSQL each get their own rows; SQLite ignores it and
            # serialises claims by taking its single write lock before the SELECT.
            .with_for_update(of=OutboxRow, skip_locked=True)
        )
        with write_transaction(self._sessions, "claim outbox messages") as session:
            entries = []
            for row, chat in session.execute(stmt).all():
                row.attempts += 1
                try:
                    document = from_json(row.payload)
                except DocumentError as exc:
                    # A corrupt or future-format row must not stop the drain: it fails, said once.
                    logger.error(
                        "outbox entry %s (%s) is not a readable document: %s",
                        row.id,
                        row.idempotency_key,
                        exc,
                    )
                    row.status = OutboxStatus.FAILED.value
                    row.last_error = f"stored message is not a readable document ({exc})"[:MAX_ERROR_LEN]
                    continue
                row.status = OutboxStatus.SENDING.value
                row.next_attempt_at = now + claim_for
                entries.append(_entry(row, chat, document))
            session.flush()
            return entries

    def mark_sent(self, entry_id: int, now: datetime) -> None:
        stmt = (
            update(OutboxRow)
            .where(OutboxRow.id == entry_id)
            .values(status=OutboxStatus.SENT.value, sent_at=now)
        )
        with write_transaction(self._sessions, "mark a message sent") as session:
            if execute_dml(session, stmt) == 0:
                raise StorageError(f"no outbox entry {entry_id}")

    def mark_progress(self, entry_id: int, parts_sent: int) -> None:
        # Only forward, and only while the entry is still being delivered: a late report
        # from a sender whose claim ran out must not move a finished entry.
        stmt = (
            update(OutboxRow)
            .where(
                OutboxRow.id == entry_id,
                OutboxRow.status.in_(_DUE),
                OutboxRow.parts_sent < parts_sent,
            )
            .values(parts_sent=parts_sent)
        )
        with write_transaction(self._sessions, "record a message's progress") as session:
            if execute_dml(session, stmt) == 0 and session.get(OutboxRow, entry_id) is None:
                raise StorageError(f"no outbox entry {entry_id}")

    def mark_failed(
        self,
        entry_id: int,
        *,
        now: datetime,
        error: str,
        policy: RetryPolicy,
        permanent: bool = False,
        not_before: datetime | None = None,
    ) -> OutboxStatus:
        with write_transaction(self._sessions, "mark a message failed") as session:
            row = session.get(OutboxRow, entry_id)
            if row is None:
                raise StorageError(f"no outbox entry {entry_id}")
            if row.status == OutboxStatus.SENT.value:
                # A late failure report must not resurrect a delivered message.
                return OutboxStatus.SENT
            # PostgreSQL text cannot hold NUL, and an exception's text can: dropped here, so
            # the report is stored (alike on every backend) instead of failing the update.
            row.last_error = error.replace("\x00", "")[:MAX_ERROR_LEN]
            if permanent or row.attempts >= policy.max_attempts:
                row.status = OutboxStatus.FAILED.value
                return OutboxStatus.FAILED
            retry_at = now + policy.delay_after(max(row.attempts, 1))
            row.status = OutboxStatus.PENDING.value
            row.next_attempt_at = max(retry_at, not_before) if not_before is not None else retry_at
            return OutboxStatus.PENDING

    def events_for_chat(self, chat_ref: int, since: datetime) -> int:
        return self.events_for_chats({chat_ref: since})[chat_ref]

    def events_for_chats(self, since: Mapping[int, datetime]) -> dict[int, int]:
        counts = dict.fromkeys(since, 0)
        # Chats share their midnights (one per time zone): a statement per midnight and chunk.
        by_time: dict[datetime, list[int]] = {}
        for ref, at in since.items():
            by_time.setdefault(at, []).append(ref)
        with transaction(self._sessions, "count the chats' alert events") as session:
            for at, refs in by_time.items():
                for chunk in chunked(refs):
                    stmt = (
                        select(OutboxRow.chat_ref, func.sum(OutboxRow.event_count))
                        .where(OutboxRow.chat_ref.in_(chunk), OutboxRow.created_at >= at)
                        .group_by(OutboxRow.chat_ref)
                    )
                    for ref, total in session.execute(stmt):
                        counts[ref] = int(total or 0)
        return counts

    def status_counts(self) -> dict[OutboxStatus, int]:
        stmt = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        with transaction(self._sessions, "count outbox messages") as session:
            return {OutboxStatus(status): count for status, count in session.execute(stmt)}
