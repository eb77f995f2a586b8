"""Bounded history: one job deletes what the retention policy no longer keeps."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.records import OutboxStatus, RetentionPolicy, RetentionReport
from bot.storage.db import write_transaction
from bot.storage.models import DigestSentRow, OutboxRow, ScoreRow, SnapshotRow
from bot.storage.repositories._common import TimeSeriesModel, execute_dml

logger = logging.getLogger(__name__)


def _exchanges(session: Session, model: TimeSeriesModel) -> list[str]:
    """The distinct exchanges of a time-series table, one index probe each.

    ``SELECT DISTINCT`` would read the whole index; asking for the next exchange after
    the previous one uses the index's leading column and touches a handful of entries.
    """
    found: list[str] = []
    while True:
        stmt = select(func.min(model.exchange))
        if found:
            stmt = stmt.where(model.exchange > found[-1])
        exchange = session.scalar(stmt)
        if exchange is None:
            return found
        found.append(exchange)


def _purge_series(session: Session, model: TimeSeriesModel, cutoff: datetime) -> int:
    """Delete rows older than ``cutoff``, per exchange so the (exchange, ts, symbol) key is used."""
    deleted = 0
    for exchange in _exchanges(session, model):
        deleted += execute_dml(session, delete(model).where(model.exchange == exchange, model.ts < cutoff))
    return deleted


def purge_expired(sessions: sessionmaker[Session], policy: RetentionPolicy, now: datetime) -> RetentionReport:
    """Delete snapshots, scores, finished outbox messages and digest records past their age.

    Each kind is purged in its own transaction, so the writer lock is held briefly and a
    failure part-way keeps what was already purged. Pending outbox messages are never
    deleted, whatever their age.
    """
    with write_transaction(sessions, "purge old snapshots") as session:
        snapshots = _purge_series(session, SnapshotRow, now - policy.snapshots)
    with write_transaction(sessions, "purge old scores") as session:
        scores = _purge_series(session, ScoreRow, now - policy.scores)
    with write_transaction(sessions, "purge old outbox messages") as session:
        outbox = execute_dml(
            session,
            delete(OutboxRow).where(
                OutboxRow.status.in_([OutboxStatus.SENT.value, OutboxStatus.FAILED.value]),
                OutboxRow.created_at < now - policy.outbox,
            ),
        )
    with write_transaction(sessions, "purge old digest records") as session:
        digests = execute_dml(
            session, delete(DigestSentRow).where(DigestSentRow.sent_at < now - policy.digests)
        )
    report = RetentionReport(snapshots=snapshots, scores=scores, outbox=outbox, digests=digests)
    logger.info(
        "retention purged %s snapshots, %s scores, %s outbox messages, %s digest records",
        report.snapshots,
        report.scores,
        report.outbox,
        report.digests,
    )
    return report


class SqlRetention:
    """``bot.ports.RetentionJob`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def purge(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        return purge_expired(self._sessions, policy, now)
