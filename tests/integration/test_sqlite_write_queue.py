"""Several writers of one process on one SQLite file: they queue in Python, in order.

One thread holds a write transaction open (until an Event is set) while others ask to
write through the same engine. The busy timeout is 0, so any writer that reached
SQLite's own lock while it was held would fail at once with "database is locked": with
the write queue they wait in ``FairLock`` and commit in the order they asked; without
it (``queue_writers=False``) they fail, which is what three venues saw under load.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.errors import StorageBusyError, StorageError
from bot.storage import db
from tests.waiting import wait_for


def _engine(path: Path, *, queue_writers: bool) -> Engine:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS writes (n INTEGER PRIMARY KEY AUTOINCREMENT, who TEXT)")
    conn.close()
    return db.create_db_engine(f"sqlite:///{path}", busy_timeout=0, queue_writers=queue_writers)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "dps.sqlite3"


class Holder:
    """A thread inside a write transaction until ``release`` is set."""

    def __init__(self, engine: Engine) -> None:
        self.sessions = db.session_factory(engine)
        self.inside = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        assert self.inside.wait(60), "the holder never began its write transaction"

    def _run(self) -> None:
        with db.write_transaction(self.sessions, "hold the lock") as session:
            session.execute(text("INSERT INTO writes (who) VALUES ('holder')"))
            self.inside.set()
            self.release.wait(60)


def _writer(engine: Engine, who: str, errors: dict[str, Exception]) -> threading.Thread:
    sessions = db.session_factory(engine)

    def run() -> None:
        try:
            with db.write_transaction(sessions, f"write as {who}") as session:
                session.execute(text("INSERT INTO writes (who) VALUES (:who)"), {"who": who})
        except StorageError as exc:
            errors[who] = exc

    thread = threading.Thread(target=run, name=who)
    thread.start()
    return thread


def _order(engine: Engine) -> list[str]:
    with db.transaction(db.session_factory(engine), "read the writes") as session:
        return list(session.scalars(text("SELECT who FROM writes ORDER BY n")))


@pytest.fixture
def queued(path: Path) -> Iterator[Engine]:
    engine = _engine(path, queue_writers=True)
    yield engine
    engine.dispose()


async def test_writers_wait_their_turn_and_commit_in_order(queued: Engine) -> None:
    queue = db.write_queue(queued)
    assert queue is not None
    holder = Holder(queued)
    errors: dict[str, Exception] = {}
    threads = []
    for n, who in enumerate(("binanceusdm", "bybit", "okx"), start=1):
        threads.append(_writer(queued, who, errors))
        await wait_for(lambda n=n: queue.waiting == n, f"{n} writers queued")  # type: ignore[misc]
    # Readers are not queued: WAL serves them the last committed state meanwhile.
    assert _order(queued) == []
    holder.release.set()
    for thread in (holder.thread, *threads):
        thread.join(60)
    assert errors == {}
    assert _order(queued) == ["holder", "binanceusdm", "bybit", "okx"]
    assert queue.waiting == 0


async def test_without_the_queue_sqlite_refuses_the_waiting_writers(path: Path) -> None:
    engine = _engine(path, queue_writers=False)
    try:
        assert db.write_queue(engine) is None
        holder = Holder(engine)
        errors: dict[str, Exception] = {}
        threads = [_writer(engine, who, errors) for who in ("binanceusdm", "bybit", "okx")]
        for thread in threads:
            thread.join(60)  # each fails at once (busy timeout 0) while the holder holds
        holder.release.set()
        holder.thread.join(60)
        assert set(errors) == {"binanceusdm", "bybit", "okx"}
        for error in errors.values():
            assert isinstance(error, StorageBusyError)
            assert "database is locked" in str(error)
        assert _order(engine) == ["holder"]
    finally:
        engine.dispose()


def test_a_failed_write_frees_the_queue(queued: Engine) -> None:
    sessions = db.session_factory(queued)

    def clash() -> None:
        with db.write_transaction(sessions, "write twice") as session:
            session.execute(text("INSERT INTO writes (n, who) VALUES (1, 'a')"))
            session.execute(text("INSERT INTO writes (n, who) VALUES (1, 'b')"))  # primary key clash

    with pytest.raises(StorageError):
        clash()
    with db.write_transaction(sessions, "write after a failure") as session:
        session.execute(text("INSERT INTO writes (who) VALUES ('next')"))
    assert _order(queued) == ["next"]


def test_a_nested_write_transaction_is_refused_at_once(queued: Engine) -> None:
    sessions = db.session_factory(queued)
    with db.write_transaction(sessions, "outer") as session:
        session.execute(text("INSERT INTO writes (who) VALUES ('outer')"))
        with pytest.raises(StorageBusyError, match="inside another"), db.write_transaction(sessions, "inner"):
            pass
    assert _order(queued) == ["outer"]


def test_engines_on_one_file_share_its_queue(path: Path, queued: Engine) -> None:
    other = _engine(path, queue_writers=True)
    try:
        assert db.write_queue(other) is db.write_queue(queued)
    finally:
        other.dispose()


def test_the_busy_timeout_is_explicit(queued: Engine, path: Path) -> None:
    engine = db.create_db_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_S * 1000
        with queued.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 0
    finally:
        engine.dispose()


async def test_a_writer_on_the_event_loop_gives_up_soon(
    queued: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The loop's thread answers every command and send: it must not queue for minutes
    # behind other threads' writes, as a worker thread may.
    monkeypatch.setattr(db, "LOOP_QUEUE_TIMEOUT_S", 0.05)
    holder = Holder(queued)
    queue = db.write_queue(queued)
    assert queue is not None
    try:
        sessions = db.session_factory(queued)
        with (
            pytest.raises(StorageBusyError, match=r"waited 0\.05 s"),
            db.write_transaction(sessions, "write on the loop") as session,
        ):
            session.execute(text("INSERT INTO writes (who) VALUES ('loop')"))
        errors: dict[str, Exception] = {}
        worker = _writer(queued, "worker", errors)  # off the loop: the long wait
        await wait_for(lambda: queue.waiting == 1, "the worker queued")
    finally:
        holder.release.set()
        holder.thread.join(60)
    worker.join(60)
    assert errors == {}
    assert _order(queued) == ["holder", "worker"]
