"""The storage's WAL checkpointer: commits leave the copying to it, and the WAL stays bounded."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.core.market import MarketSnapshot
from bot.storage.facade import Storage, open_storage
from tests.postgres import SQLITE_ONLY
from tests.waiting import wait_for

pytestmark = SQLITE_ONLY

T0 = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
SYMBOLS = 400


def snapshots(at: datetime) -> list[MarketSnapshot]:
    return [
        MarketSnapshot("binanceusdm", f"S{i:04d}USDT", at, 1e6 + i, 2e7, 20.0, 20.1, 20.0, 1e-4, 8.0, at, 5e8)
        for i in range(SYMBOLS)
    ]


def write(storage: Storage, cycle: int) -> None:
    storage.cycles.save_cycle(exchange="binanceusdm", snapshots=snapshots(T0 + cycle * timedelta(minutes=5)))


def wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


@pytest.fixture
def db_file(migrated_url: str) -> Path:
    return Path(migrated_url.removeprefix("sqlite:///"))


def test_the_cycles_commit_leaves_the_checkpoint_to_the_thread(storage: Storage) -> None:
    with storage.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        assert conn.exec_driver_sql("PRAGMA journal_size_limit").scalar() == 64 * 1024 * 1024
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    before = checkpointer.runs
    write(storage, 0)
    assert checkpointer.settle(60), "the checkpointer never served the commit"
    assert checkpointer.runs > before
    assert checkpointer.last is not None and checkpointer.last.complete
    # Every frame the cycle wrote is in the database file: a copy of the file alone has it.
    assert checkpointer.last.checkpointed > 0


def test_the_wal_stays_bounded_over_many_writes(storage: Storage, db_file: Path) -> None:
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    frames = []  # each write's frames: the WAL as each checkpoint found it
    for cycle in range(30):
        write(storage, cycle)
        assert checkpointer.settle(60)
        assert checkpointer.last is not None and checkpointer.last.complete
        frames.append(checkpointer.last.wal_frames)
    with storage.engine.connect() as conn:
        page = conn.exec_driver_sql("PRAGMA page_size").scalar()
    assert isinstance(page, int)
    # Unchecked, the WAL would hold every write; checkpointed, each write starts it over,
    # so the file is as long as the longest write, not as all of them together.
    assert sum(frames) > 5 * max(frames)
    assert wal(db_file).stat().st_size <= 32 + max(frames) * (24 + page)


def test_a_reader_is_never_blocked_and_only_holds_back_what_it_may_still_read(
    storage: Storage, db_file: Path
) -> None:
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    write(storage, 0)
    assert checkpointer.settle(60)
    reader = sqlite3.connect(db_file, isolation_level=None)
    try:
        reader.execute("BEGIN")
        seen = reader.execute("SELECT count(*) FROM market_snapshots").fetchone()[0]
        write(storage, 1)
        assert checkpointer.settle(60)
        # The reader's snapshot still needs the frames before its mark: the PASSIVE
        # checkpoint copies what it can and waits for nobody.
        assert checkpointer.last is not None and not checkpointer.last.complete
        assert reader.execute("SELECT count(*) FROM market_snapshots").fetchone()[0] == seen
        reader.execute("COMMIT")
    finally:
        reader.close()
    write(storage, 2)
    assert checkpointer.settle(60)
    assert checkpointer.last is not None and checkpointer.last.complete


CRASHING_WRITER = """
import os, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA wal_autocheckpoint=0")
conn.execute("BEGIN")
conn.executemany(
    "INSERT INTO bot_state (name, value, updated_at) VALUES (?, ?, '2026-11-19 12:00:00.000000')",
    [(f"crash-{i}", "x" * 2000) for i in range(200)],
)
conn.execute("COMMIT")
os._exit(9)  # killed: no close, no checkpoint
"""


def crash_after_writing(db_file: Path) -> None:
    done = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(db_file)], check=False)
    assert done.returncode == 9


def test_frames_a_crashed_process_left_are_folded_in_at_start(db_file: Path) -> None:
    # Another process keeps the file open, so SQLite's own clean-up at the last close
    # (checkpoint and delete the WAL) does not happen: only a checkpointer can fold it.
    other = sqlite3.connect(db_file)
    try:
        other.execute("SELECT 1 FROM bot_state").fetchall()
        crash_after_writing(db_file)
        assert wal(db_file).stat().st_size > 200 * 2000
        storage = open_storage(f"sqlite:///{db_file}", upgrade=False)
        try:
            checkpointer = storage.checkpointer
            assert checkpointer is not None
            asyncio.run(
                wait_for(
                    lambda: (
                        checkpointer.last is not None
                        and checkpointer.last.complete
                        and checkpointer.last.wal_frames > 0
                    ),
                    "the checkpoint at start",
                )
            )
        finally:
            storage.close()
    finally:
        other.close()


def test_frames_another_process_wrote_are_folded_in_after_this_ones_next_write(
    storage: Storage, db_file: Path
) -> None:
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    assert checkpointer.settle(60)
    crash_after_writing(db_file)
    write(storage, 0)
    assert checkpointer.settle(60)
    assert checkpointer.last is not None and checkpointer.last.complete
    # The other process's frames (its 400 kB of values) and this one's.
    assert checkpointer.last.checkpointed * 4096 > 200 * 2000


def test_closing_the_storage_stops_its_checkpointer(migrated_url: str) -> None:
    storage = open_storage(migrated_url, upgrade=False)
    checkpointer = storage.checkpointer
    assert checkpointer is not None
    write(storage, 0)
    storage.close()
    assert not checkpointer.alive
    # The last connection gone, SQLite folded the WAL in and removed it.
    assert not wal(Path(migrated_url.removeprefix("sqlite:///"))).exists()
