"""The whole-market sampled read maps the SQLite file only while it runs, and only a long read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event

from bot.storage.db import MMAP_BYTES
from bot.storage.facade import Storage
from bot.storage.models import SnapshotRow
from bot.storage.repositories.track_reads import MAP_MIN_SLOTS, market_firsts
from tests.fakes.contract import EX, snapshot
from tests.postgres import SQLITE_ONLY

pytestmark = SQLITE_ONLY

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _long_read(storage: Storage, conn: Any) -> tuple[dict[str, Any], list[int], list[datetime]]:
    """A read of ``MAP_MIN_SLOTS`` hourly slots; the map's size as each SELECT was sent."""
    times = [T0 + k * timedelta(minutes=5) for k in range(12 * MAP_MIN_SLOTS)]
    storage.snapshots.add_snapshots([snapshot(s, ts) for ts in times for s in ("A", "B")])
    hours = [T0 + h * timedelta(hours=1) for h in range(MAP_MIN_SLOTS)]
    slots = [(h, h + timedelta(minutes=10)) for h in hours]
    during: list[int] = []

    def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            during.append(conn.exec_driver_sql("PRAGMA mmap_size").scalar())

    event.listen(storage.engine, "before_cursor_execute", before)
    try:
        found = market_firsts(conn, SnapshotRow, (SnapshotRow.mark_price,), EX, slots, None, ())
    finally:
        event.remove(storage.engine, "before_cursor_execute", before)
    return found, during, hours


def test_the_read_is_mapped_and_the_connection_unmapped_after(storage: Storage) -> None:
    with storage.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == 0  # ours map nothing
        found, during, hours = _long_read(storage, conn)
        after = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    assert sorted(found) == ["A", "B"] and [ts for ts, _ in found["A"]] == hours
    # Mapped (as far as the build allows) for every statement of the read.
    assert during and all(0 < size <= MMAP_BYTES for size in during)
    assert after == 0


def test_a_connection_with_a_map_of_its_own_keeps_it(storage: Storage) -> None:
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA mmap_size=65536")
        found, during, hours = _long_read(storage, conn)
        after = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    assert [ts for ts, _ in found["A"]] == hours
    assert during and set(during) == {65536} and after == 65536


def test_a_short_read_is_not_mapped(storage: Storage) -> None:
    # A top-up's slot or two: mapping cost more than it saved there.
    storage.snapshots.add_snapshots([snapshot("A", T0 + k * timedelta(minutes=5)) for k in range(24)])
    slots = [(T0, T0 + timedelta(minutes=10))]
    with storage.engine.connect() as conn:
        sent: list[str] = []
        event.listen(conn, "before_cursor_execute", lambda *args: sent.append(args[2]))
        found = market_firsts(conn, SnapshotRow, (SnapshotRow.mark_price,), EX, slots, None, ())
    assert [ts for ts, _ in found["A"]] == [T0]
    assert sent and not any("mmap_size" in statement for statement in sent)
