"""What the database itself enforces, below the repositories: keys, foreign keys, UTC times."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session

from bot.core.events import EventKind, LastAlert
from bot.core.records import ChatKey, ChatKind, OutboxMessage, OutboxStatus, Platform, RetryPolicy
from bot.errors import StorageError
from bot.storage.facade import Storage
from bot.storage.models import (
    AlertMarkRow,
    AlertStateRow,
    ChatSettingsRow,
    DigestSentRow,
    OutboxRow,
    ScoreRow,
    WatchlistRow,
    table_of,
)
from bot.storage.repositories.scores import score_to_row
from tests.fakes.contract import EX, T0, message, note, record, symbol_state
from tests.fakes.outbox_rows import stored_outbox
from tests.postgres import SQLITE_ONLY

# The constraint named in the error, as SQLite ("UNIQUE constraint failed") and PostgreSQL
# ("violates unique constraint") word it.
UNIQUE = "(?i)unique constraint"
NOT_NULL = "(?i)not[ -]null constraint"
FOREIGN_KEY = "(?i)foreign key constraint"


@pytest.fixture
def session(storage: Storage) -> Iterator[Session]:
    with Session(storage.engine) as s:
        yield s


@pytest.fixture
def chat_ref(storage: Storage) -> int:
    return storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "-1001"), kind=ChatKind.GROUP, now=T0).ref


def outbox_row(key: str, chat_ref: int) -> dict[str, object]:
    return {
        "idempotency_key": key,
        "chat_ref": chat_ref,
        "payload": "hi",
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": T0,
        "created_at": T0,
    }


def test_a_raw_duplicate_outbox_key_is_rejected(storage: Storage, session: Session, chat_ref: int) -> None:
    session.execute(sa.insert(OutboxRow), [outbox_row("alert:1:abc", chat_ref)])
    session.commit()
    with pytest.raises(IntegrityError, match=UNIQUE):
        session.execute(sa.insert(OutboxRow), [outbox_row("alert:1:abc", chat_ref)])
    session.rollback()
    # ...while the repository's enqueue treats the same key as already done.
    assert storage.outbox.enqueue([message("alert:1:abc", chat_ref)]) == 0
    assert storage.outbox.status_counts() == {OutboxStatus.PENDING: 1}


def test_a_raw_duplicate_score_or_digest_is_rejected(session: Session, chat_ref: int) -> None:
    session.execute(sa.insert(ScoreRow), [score_to_row(record("BTCUSDT", T0))])
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(sa.insert(ScoreRow), [score_to_row(record("BTCUSDT", T0))])
    session.rollback()
    digest = {"chat_ref": chat_ref, "local_date": date(2025, 1, 6), "sent_at": T0}
    session.execute(sa.insert(DigestSentRow), [digest])
    session.commit()
    with pytest.raises(IntegrityError):
        session.execute(sa.insert(DigestSentRow), [digest])


def test_an_outbox_row_counts_one_event_unless_told_otherwise(
    storage: Storage, session: Session, chat_ref: int
) -> None:
    session.execute(sa.insert(OutboxRow), [outbox_row("old-style", chat_ref)])  # no event_count
    session.commit()
    assert session.scalar(sa.select(OutboxRow.event_count)) == 1
    assert storage.outbox.events_for_chat(chat_ref, T0) == 1
    # Through the Core table: an ORM bulk insert would leave the None out, not send NULL.
    with pytest.raises(IntegrityError, match=NOT_NULL):
        session.execute(
            sa.insert(table_of(OutboxRow)), [outbox_row("null", chat_ref) | {"event_count": None}]
        )


def test_alert_marks_belong_to_a_state_and_go_with_it(storage: Storage, session: Session) -> None:
    mark = {"exchange": EX, "symbol": "BTCUSDT", "kind": "band_up", "position": 0}
    with pytest.raises(IntegrityError, match=FOREIGN_KEY):
        session.execute(sa.insert(AlertMarkRow), [mark | {"at": T0, "severity": 3, "open": True}])
    session.rollback()
    alert = LastAlert(EventKind.BAND_UP, T0, severity=3, open=True)
    storage.alert_states.save_alert_states(EX, [symbol_state("BTCUSDT", alerts=(alert,))])
    assert session.scalar(sa.select(sa.func.count()).select_from(AlertMarkRow)) == 1
    session.execute(sa.delete(AlertStateRow))
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(AlertMarkRow)) == 0


def test_foreign_keys_are_enforced_and_cascade(storage: Storage, session: Session, chat_ref: int) -> None:
    with pytest.raises(IntegrityError, match=FOREIGN_KEY):
        session.execute(sa.insert(OutboxRow), [outbox_row("orphan", 999_999)])
    session.rollback()
    storage.chats.watch(chat_ref, "binanceusdm", ["BTCUSDT"], T0)
    storage.outbox.enqueue([message("k", chat_ref)])
    storage.digests.record_digest(chat_ref, date(2025, 1, 6), T0)
    session.execute(sa.text("DELETE FROM chats WHERE id = :ref"), {"ref": chat_ref})
    session.commit()
    for model in (ChatSettingsRow, WatchlistRow, OutboxRow, DigestSentRow):
        assert session.scalar(sa.select(sa.func.count()).select_from(model)) == 0


@SQLITE_ONLY
def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(storage: Storage) -> None:
    with storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_times_are_stored_as_utc_and_come_back_aware(
    backend: str, storage: Storage, session: Session, chat_ref: int
) -> None:
    tokyo = timezone(timedelta(hours=9))
    at = datetime(2025, 1, 6, 21, 0, tzinfo=tokyo)
    storage.outbox.enqueue([OutboxMessage("tz", chat_ref, note("hi"), at)])
    stored = {
        "sqlite": "SELECT created_at FROM outbox",
        # timestamptz keeps the instant; its UTC wall time, written as SQLite stores it.
        "postgresql": "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM outbox",
    }[backend]
    stored_text = session.execute(sa.text(stored)).scalar()
    assert stored_text == "2025-01-06 12:00:00.000000"  # the UTC wall time
    (entry,) = storage.outbox.claim_due(at, limit=1, claim_for=timedelta(minutes=1))
    assert entry.created_at == at and entry.created_at.tzinfo is UTC


def test_naive_times_are_refused_before_they_reach_the_database(session: Session, chat_ref: int) -> None:
    row = outbox_row("naive", chat_ref) | {"created_at": datetime(2025, 1, 6, 12, 0)}  # noqa: DTZ001
    with pytest.raises(StatementError, match="aware"):
        session.execute(sa.insert(OutboxRow), [row])


def test_database_errors_surface_as_storage_error_with_the_cause(storage: Storage, chat_ref: int) -> None:
    other = storage.chats.ensure_chat(ChatKey(Platform.TELEGRAM, "-2002"), kind=ChatKind.GROUP, now=T0)
    chat = storage.chats.chat_by_ref(chat_ref)
    assert chat is not None
    with pytest.raises(StorageError, match="update a chat") as caught:
        storage.chats.update_chat(replace(chat, key=other.key))
    assert isinstance(caught.value.__cause__, IntegrityError)
    assert isinstance(caught.value.__cause__, SQLAlchemyError)


def test_a_nul_in_an_error_text_is_dropped_rather_than_failing_the_report(
    storage: Storage, chat_ref: int
) -> None:
    # PostgreSQL refuses NUL in text; a sink's exception text may carry one.
    storage.outbox.enqueue([message("k", chat_ref)])
    (entry,) = storage.outbox.claim_due(T0, limit=1, claim_for=timedelta(minutes=1))
    status = storage.outbox.mark_failed(entry.id, now=T0, error="bad\x00byte", policy=RetryPolicy())
    assert status is OutboxStatus.PENDING and stored_outbox(storage, "k").last_error == "badbyte"


@pytest.mark.parametrize(
    "stored",
    ["BTCUSDT lean → stretched", '{"version": 99, "title": "", "tone": "info", "blocks": []}'],
    ids=["plain text", "future version"],
)
def test_an_unreadable_payload_fails_its_entry_and_the_drain_goes_on(
    storage: Storage, session: Session, chat_ref: int, stored: str, caplog: pytest.LogCaptureFixture
) -> None:
    storage.outbox.enqueue([message("bad", chat_ref), message("good", chat_ref, T0 + timedelta(seconds=1))])
    session.execute(sa.update(OutboxRow).where(OutboxRow.idempotency_key == "bad").values(payload=stored))
    session.commit()
    claimed = storage.outbox.claim_due(T0 + timedelta(minutes=1), limit=5, claim_for=timedelta(minutes=1))
    assert [e.idempotency_key for e in claimed] == ["good"]
    counts = storage.outbox.status_counts()
    assert counts == {OutboxStatus.FAILED: 1, OutboxStatus.SENDING: 1}
    last_error = session.execute(
        sa.select(OutboxRow.last_error).where(OutboxRow.idempotency_key == "bad")
    ).scalar_one()
    assert last_error is not None and "not a readable document" in last_error
    assert "not a readable document" in caplog.text
    # Failed for good: a later drain does not pick it up again.
    assert (
        storage.outbox.claim_due(T0 + timedelta(hours=1), limit=5, claim_for=timedelta(minutes=1))[
            0
        ].idempotency_key
        == "good"
    )
