"""Small named values kept across restarts (``bot_state``): e.g. the synced Discord commands' hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import StorageError
from bot.storage.db import transaction, write_transaction
from bot.storage.models import BotStateRow
from bot.storage.repositories._common import execute_dml


class SqlStateStore:
    """``bot.ports.StateStore`` on SQLAlchemy.

    ``put`` is an UPDATE, or an INSERT when the name is new; should two processes insert
    the same new name at once, the loser's value overwrites (last write wins, as for an
    update).
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, name: str) -> str | None:
        with transaction(self._sessions, "read a state value") as session:
            return session.scalar(select(BotStateRow.value).where(BotStateRow.name == name))

    def put(self, name: str, value: str, now: datetime) -> None:
        change = update(BotStateRow).where(BotStateRow.name == name).values(value=value, updated_at=now)
        with write_transaction(self._sessions, "store a state value") as session:
            if execute_dml(session, change) == 1:
                return
        try:
            with write_transaction(self._sessions, "store a state value") as session:
                session.execute(insert(BotStateRow).values(name=name, value=value, updated_at=now))
        except StorageError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            with write_transaction(self._sessions, "store a state value") as session:
                session.execute(change)  # inserted by another process meanwhile
