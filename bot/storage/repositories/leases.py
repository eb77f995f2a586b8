"""Named leases: one holder at a time, taken over only after the holder stops renewing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, delete, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.core.records import LeaseInfo
from bot.errors import StorageError
from bot.storage.db import transaction, write_transaction
from bot.storage.models import LeaseRow
from bot.storage.repositories._common import execute_dml


def later_expiry(expires: datetime) -> ColumnElement[datetime]:
    """The later of the stored expiry and ``expires``, for a renewal's UPDATE.

    A renewal computes ``expires`` before it queues for the write lock (seconds, on a busy
    SQLite file): a heartbeat that queued behind it may have stored a later one already,
    and writing the older one back would shorten the lease a standby watches.
    """
    new = literal(expires, LeaseRow.expires_at.type)
    return case((LeaseRow.expires_at > new, LeaseRow.expires_at), else_=new)


class SqlLeaseStore:
    """``bot.ports.LeaseStore`` on SQLAlchemy.

    Each step is one statement, atomic on SQLite and PostgreSQL alike: renew-or-take-over
    is a conditional UPDATE, a first claim an INSERT that the primary key lets only one
    process win.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def acquire(self, name: str, holder: str, now: datetime, ttl: timedelta) -> datetime | None:
        expires = now + ttl
        take = (
            update(LeaseRow)
            .where(LeaseRow.name == name, or_(LeaseRow.holder == holder, LeaseRow.expires_at <= now))
            .values(
                holder=holder,
                expires_at=later_expiry(expires),  # a takeover's is always the later
                acquired_at=case((LeaseRow.holder == holder, LeaseRow.acquired_at), else_=now),
            )
        )
        with write_transaction(self._sessions, "renew a lease") as session:
            if execute_dml(session, take) == 1:
                return session.scalar(select(LeaseRow.acquired_at).where(LeaseRow.name == name))
        try:
            with write_transaction(self._sessions, "take a lease") as session:
                session.execute(
                    insert(LeaseRow).values(name=name, holder=holder, acquired_at=now, expires_at=expires)
                )
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None  # someone else holds it (or took it just now)
            raise
        return now

    def release(self, name: str, holder: str) -> None:
        with write_transaction(self._sessions, "release a lease") as session:
            session.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder))

    def lease(self, name: str) -> LeaseInfo | None:
        with transaction(self._sessions, "read a lease") as session:
            row = session.scalar(select(LeaseRow).where(LeaseRow.name == name))
            return None if row is None else LeaseInfo(row.name, row.holder, row.expires_at)
