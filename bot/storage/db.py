"""Engines, sessions and the one place SQLAlchemy errors become ``StorageError``."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import StorageBusyError, StorageError
from bot.storage.wal_checkpoint import SIZE_LIMIT_PRAGMA, WalCheckpointer
from bot.storage.write_queue import FairLock

logger = logging.getLogger(__name__)

IMMEDIATE = "dps_sqlite_immediate"
# Session.connection(execution_options=…) is typed with SQLAlchemy's own keys only.
IMMEDIATE_OPTIONS: Any = {IMMEDIATE: True}
"""Begin the session's transaction with SQLite's write lock (other dialects ignore it)."""

BUSY_TIMEOUT_S = 30.0
"""How long a SQLite connection waits for another process's write lock before "database is
locked" (Python's default is 5 s): a big backfill or purge in another ``dps run`` role on
the same file must not fail a cycle. This process's own writers queue in ``FairLock``."""
QUEUE_TIMEOUT_S = 300.0
"""How long a write transaction waits behind this process's other writers on one SQLite
file. They all make progress (each holds the lock for one transaction), so this only
bounds a wait that something stuck would otherwise make endless."""
LOOP_QUEUE_TIMEOUT_S = 5.0
"""The same wait for a writer on an event loop's thread (a lease renewal, an outbox claim,
a command's setting): every command and send of the process waits with it, so it gives up
as soon as SQLite's own default would have, and its caller reports the busy store."""

# One FIFO lock per SQLite file, shared by every engine of this process on it.
_file_locks: dict[Path, FairLock] = {}
_file_locks_mutex = threading.Lock()
_engine_locks: weakref.WeakKeyDictionary[Engine, FairLock] = weakref.WeakKeyDictionary()


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, naming the setting when it is malformed."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"DATABASE_URL is not a valid database URL: {exc}") from exc


def is_sqlite(url: URL) -> bool:
    """True for any SQLite URL (file or memory)."""
    return url.get_backend_name() == "sqlite"


def sqlite_file(url: URL) -> Path | None:
    """The file a SQLite URL points at, or None for in-memory databases."""
    database = url.database
    if not is_sqlite(url) or not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_db_engine(
    url: str | URL,
    *,
    foreign_keys: bool = True,
    echo: bool = False,
    busy_timeout: float = BUSY_TIMEOUT_S,
    queue_writers: bool = True,
) -> Engine:
    """Create an engine; for a SQLite file, create its directory and switch on WAL.

    Args:
        url: a SQLAlchemy URL (``DATABASE_URL``).
        foreign_keys: enforce foreign keys on SQLite. Migrations turn it off, because a
            batch migration copies and drops tables, which cascades with it on.
        echo: log every statement.
        busy_timeout: SQLite: seconds a connection waits for another process's write lock
            (a ``timeout`` in the URL's query wins).
        queue_writers: SQLite file: ``write_transaction`` queues this process's writers in
            a FIFO lock (``FairLock``) before BEGIN IMMEDIATE. Off only in the test that
            shows what SQLite's busy handler does without it.

    Raises:
        StorageError: the URL is malformed or its directory cannot be created.
    """
    parsed = parse_url(url)
    path = sqlite_file(parsed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the database directory {path.parent}: {exc}") from exc
    try:
        if is_sqlite(parsed):
            connect_args = {} if "timeout" in parsed.query else {"timeout": busy_timeout}
            engine = create_engine(parsed, echo=echo, connect_args=connect_args)
            _configure_sqlite(engine, foreign_keys=foreign_keys)
            if path is not None and queue_writers:
                _engine_locks[engine] = _file_lock(path)
        else:
            engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        where = parsed.render_as_string(hide_password=True)
        raise StorageError(f"cannot open the database {where}: {exc}") from exc
    return engine


def _file_lock(path: Path) -> FairLock:
    key = path.resolve()
    with _file_locks_mutex:
        return _file_locks.setdefault(key, FairLock())


def write_queue(engine: Engine) -> FairLock | None:
    """The FIFO lock ``write_transaction`` takes on ``engine`` (None: PostgreSQL, memory)."""
    return _engine_locks.get(engine)


def _configure_sqlite(engine: Engine, *, foreign_keys: bool) -> None:
    """Pragmas on every new connection, and real transactions (see below)."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Python < 3.12's sqlite3 issues BEGIN lazily, only before DML, so a SELECT that
        # precedes an INSERT would not be in the same transaction. Take BEGIN over
        # (SQLAlchemy's documented recipe) so select-then-insert is atomic.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # WAL lets readers (commands) run while the collector writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON" if foreign_keys else "PRAGMA foreign_keys=OFF")
            # In WAL mode NORMAL survives a process crash (kill -9); only an OS crash or
            # power loss can lose the last commits. It makes each commit much cheaper.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    def on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write (an outbox claim) then
        # waits its turn instead of failing when another process wrote in between.
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


MMAP_BYTES = 0x7FFF0000
"""How much of the SQLite file ``mapped_reads`` maps: SQLite's default ceiling (a build may
lower it; the rest of a larger file is read as without a map)."""
_MAP = "PRAGMA mmap_size=2147418112"  # MMAP_BYTES; a pragma takes no bound parameter
_UNMAP = "PRAGMA mmap_size=0"


@contextmanager
def mapped_reads(conn: Connection, *, when: bool = True) -> Iterator[None]:
    """SQLite: read through a memory map while the block runs (``when``), then unmapped again.

    For long reads of rows scattered over a table (``/track``'s first read): unmapped, each
    page is a system call and a copy into SQLite's small page cache; mapped, it is read in
    place. Only a connection with no map of its own is mapped (ours have none), and only
    for the block: the pages count in the process's RSS while mapped, and an I/O error on
    a mapped page is a signal rather than an exception.
    """
    sqlite = when and conn.dialect.name == "sqlite"
    if not sqlite or int(conn.exec_driver_sql("PRAGMA mmap_size").scalar() or 0):
        yield
        return
    conn.exec_driver_sql(_MAP)
    try:
        yield
    finally:
        conn.exec_driver_sql(_UNMAP)


def refuse_writes(engine: Engine) -> bool:
    """Make every connection ``engine`` opens from now on refuse writes (SQLite's
    ``query_only``); whether it did (a PostgreSQL database is left as it is). Connections
    opened before are closed, not reused.
    """
    if not is_sqlite(engine.url):
        return False

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA query_only=ON")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()
    return True


_WROTE = "dps_wrote"
_CHANGES = "dps_total_changes"


def checkpoint_in_background(engine: Engine) -> WalCheckpointer | None:
    """Move ``engine``'s WAL checkpoints off its commits, onto a ``WalCheckpointer`` thread.

    For a SQLite file only (None otherwise); call before the engine's first connection.
    Its connections stop checkpointing inside their commits (``wal_autocheckpoint=0``),
    and every connection that committed a write wakes the checkpointer when it goes back
    to the pool, once its commit has landed.
    """
    path = sqlite_file(engine.url)
    if path is None:
        return None
    checkpointer = WalCheckpointer(path)

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.execute(SIZE_LIMIT_PRAGMA)
        finally:
            cursor.close()
        record.info[_CHANGES] = dbapi_connection.total_changes

    def on_commit(connection: Any) -> None:
        # The commit event comes before the COMMIT itself: note that this transaction
        # wrote (its connection's change count moved) and wake at check-in, after it.
        changes = connection.connection.dbapi_connection.total_changes
        if connection.info.get(_CHANGES) != changes:
            connection.info[_CHANGES] = changes
            connection.info[_WROTE] = True

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_WROTE, False):
            checkpointer.wake()

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "commit", on_commit)
    event.listen(engine.pool, "checkin", on_checkin)
    return checkpointer


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded values readable after commit (records are built from them)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Translate SQLAlchemy errors raised inside the block into ``StorageError``.

    Args:
        action: what was being done, for the message (``"store scores"``).
    """
    try:
        yield
    except SQLAlchemyError as exc:
        # The DBAPI's own message is the useful part; SQLAlchemy's adds the SQL and its
        # parameters, which can be long and may carry user text.
        detail = exc.orig if isinstance(exc, DBAPIError) else exc
        # SQLite's "database is locked" (another writer held on past the busy timeout) is
        # transient: a caller may retry once the lock is free.
        busy = isinstance(exc, OperationalError) and "is locked" in str(detail)
        error = StorageBusyError if busy else StorageError
        raise error(f"cannot {action}: {type(exc).__name__}: {detail}") from exc


@contextmanager
def transaction(sessions: sessionmaker[Session], action: str) -> Iterator[Session]:
    """A session in a transaction committed on success and rolled back on any error."""
    with storage_errors(action), sessions.begin() as session:
        yield session


@contextmanager
def write_transaction(sessions: sessionmaker[Session], action: str) -> Iterator[Session]:
    """Like ``transaction``, for a transaction that writes: on SQLite it begins IMMEDIATE.

    SQLite's deferred BEGIN takes the write lock only at the first write. If another
    connection committed after this transaction's first read, that write fails at once
    with "database is locked" (its snapshot is stale; ``busy_timeout`` cannot help).
    Taking the lock at BEGIN makes the transaction wait its turn instead. Other dialects
    ignore the option.

    On a SQLite file this process's writers first queue in a FIFO lock (``write_queue``),
    held until the COMMIT or ROLLBACK is done: SQLite's busy handler is unfair and could
    starve one venue's cycle past its timeout. Readers (``transaction``) never wait on it.

    Raises:
        StorageBusyError: the database stayed locked (a busy timeout or the queue's ran out).
        StorageError: any other database failure.
    """
    bind = sessions.kw.get("bind")
    queue = _engine_locks.get(bind) if isinstance(bind, Engine) else None
    if queue is not None:
        try:
            queue.acquire(LOOP_QUEUE_TIMEOUT_S if _on_event_loop() else QUEUE_TIMEOUT_S)
        except StorageBusyError as exc:
            raise StorageBusyError(f"cannot {action}: {exc}") from exc
    try:
        with transaction(sessions, action) as session:
            session.connection(execution_options=IMMEDIATE_OPTIONS)
            yield session
    finally:
        if queue is not None:
            queue.release()


def _on_event_loop() -> bool:
    """Whether this thread is running an asyncio event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
