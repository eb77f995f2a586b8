"""A venue's commit landing between a repository transaction's read and its write.

SQLite's deferred BEGIN takes a snapshot at the first read; if another connection
commits before the first write, that write fails at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT, which no busy timeout waits out). ``write_transaction`` begins
IMMEDIATE, so the other writer waits for this transaction instead. The collision is
forced deterministically: a hook runs the other connection's commit just before the
repository's first write statement.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, Platform
from bot.errors import StorageError
from bot.storage import db, migrate
from bot.storage.repositories import chats, digests
from bot.storage.repositories.chats import SqlChatStore
from bot.storage.repositories.digests import SqlDigestLog
from tests.fakes.contract import T0
from tests.integration.write_lock_policy import WriteLockPolicy

_WRITES = ("INSERT", "UPDATE", "DELETE")


class VenueCommit:
    """Another connection (a venue's cycle) that commits once, just before our first write.

    Its connection does not wait (timeout 0): if our transaction already holds the write
    lock it is refused at once, where the real one would wait its turn.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self.outcome: str | None = None
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE venue_commits (n INTEGER)")
        conn.close()

    def commit(self) -> str:
        conn = sqlite3.connect(self._path, timeout=0, isolation_level=None)
        try:
            conn.execute("INSERT INTO venue_commits VALUES (1)")
            return "committed"
        except sqlite3.OperationalError as exc:
            return f"refused: {exc}"
        finally:
            conn.close()

    def before_first_write(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.outcome is None and statement.lstrip().upper().startswith(_WRITES):
            self.outcome = self.commit()

    def count(self) -> int:
        with sqlite3.connect(self._path) as conn:
            (n,) = conn.execute("SELECT count(*) FROM venue_commits").fetchone()
        conn.close()
        return int(n)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'dps.sqlite3'}"
    migrate.upgrade(url)
    engine = db.create_db_engine(url)
    yield engine
    engine.dispose()


Action = Callable[[SqlChatStore, SqlDigestLog, int], object]


def _save_settings(store: SqlChatStore, _log: SqlDigestLog, ref: int) -> object:
    store.save_settings(ref, dataclasses.replace(store.get_settings(ref), min_band=Band.STRESSED))
    return store.get_settings(ref).min_band


def _watch(store: SqlChatStore, _log: SqlDigestLog, ref: int) -> object:
    store.watch(ref, "binanceusdm", ["BTCUSDT"], T0)
    return [entry.symbol for entry in store.watchlist(ref)]


def _update_chat(store: SqlChatStore, _log: SqlDigestLog, ref: int) -> object:
    chat = store.chat_by_ref(ref)
    assert chat is not None
    store.update_chat(dataclasses.replace(chat, timezone="Europe/Berlin"))
    updated = store.chat_by_ref(ref)
    return None if updated is None else updated.timezone


def _record_digest(_store: SqlChatStore, log: SqlDigestLog, ref: int) -> object:
    return log.record_digest(ref, date(2026, 1, 5), T0) and log.digest_sent(ref, date(2026, 1, 5))


# (action, what it returns once stored, whether the old deferred transaction failed):
# a digest record inserts in a transaction of its own with no read before it, so it
# never had a stale snapshot to fail on.
CASES = {
    "chat settings": (_save_settings, Band.STRESSED, True),
    "watchlist": (_watch, ["BTCUSDT"], True),
    "update a chat": (_update_chat, "Europe/Berlin", True),
    "digest record": (_record_digest, True, False),
}


def _stores(engine: Engine, tmp_path: Path) -> tuple[SqlChatStore, SqlDigestLog, int, VenueCommit]:
    sessions = db.session_factory(engine)
    store, log = SqlChatStore(sessions), SqlDigestLog(sessions)
    ref = store.ensure_chat(ChatKey(Platform.TELEGRAM, "42"), kind=ChatKind.PRIVATE, now=T0).ref
    venue = VenueCommit(tmp_path / "dps.sqlite3")
    event.listen(engine, "before_cursor_execute", venue.before_first_write)
    return store, log, ref, venue


@pytest.mark.parametrize("case", list(CASES))
def test_a_write_transaction_holds_the_lock_so_a_venue_commit_waits_instead_of_failing_it(
    case: str, engine: Engine, tmp_path: Path
) -> None:
    action, stored, _old_failed = CASES[case]
    store, log, ref, venue = _stores(engine, tmp_path)
    assert action(store, log, ref) == stored
    assert venue.outcome is not None and venue.outcome.startswith("refused: database is locked")
    assert venue.commit() == "committed"  # its turn came once ours committed
    assert venue.count() == 1


@pytest.mark.parametrize("case", list(CASES))
def test_the_old_deferred_transaction_failed_as_locked_when_a_venue_committed_between_read_and_write(
    case: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    write_lock_policy: WriteLockPolicy,
) -> None:
    action, stored, old_failed = CASES[case]
    for module in (chats, digests):
        monkeypatch.setattr(module, "write_transaction", db.transaction)
    store, log, ref, venue = _stores(engine, tmp_path)
    if old_failed:
        with pytest.raises(StorageError, match="database is locked"):
            action(store, log, ref)
    else:
        assert action(store, log, ref) == stored
    assert venue.outcome == "committed"
    # The policy check sees the same thing: these writes ran without the lock up front.
    assert write_lock_policy.violations
    write_lock_policy.violations.clear()
