"""The record of daily digests sent, once per chat and chat-local date."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import StorageError
from bot.storage.db import transaction, write_transaction
from bot.storage.models import DigestSentRow


class SqlDigestLog:
    """``bot.ports.DigestLog`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record_digest(self, chat_ref: int, local_date: date, sent_at: datetime) -> bool:
        if self.digest_sent(chat_ref, local_date):
            return False
        try:
            with write_transaction(self._sessions, "record a digest") as session:
                session.execute(
                    insert(DigestSentRow).values(chat_ref=chat_ref, local_date=local_date, sent_at=sent_at)
                )
        except StorageError as exc:
            # Another writer recorded it between our read and insert: the key held.
            if isinstance(exc.__cause__, IntegrityError) and self.digest_sent(chat_ref, local_date):
                return False
            raise
        return True

    def digest_sent(self, chat_ref: int, local_date: date) -> bool:
        stmt = select(DigestSentRow.chat_ref).where(
            DigestSentRow.chat_ref == chat_ref, DigestSentRow.local_date == local_date
        )
        with transaction(self._sessions, "read the digest record") as session:
            return session.scalar(stmt) is not None
