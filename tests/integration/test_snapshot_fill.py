"""A backfilled point (open interest only) and a cycle's full snapshot at the same time:
the full snapshot's columns are stored, whichever arrives first."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import select

from bot.core.market import MarketSnapshot
from bot.storage.facade import Storage
from bot.storage.models import SnapshotRow
from tests.fakes.contract import EX, snapshot

T = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)


def backfilled(symbol: str) -> MarketSnapshot:
    """What the OI backfill stores: open interest, nothing else."""
    return replace(
        snapshot(symbol, T),
        mark_price=None,
        index_price=None,
        last_price=None,
        funding_rate=None,
        funding_interval_h=None,
        next_funding_time=None,
        volume_24h_usd=None,
    )


def stored(storage: Storage, symbol: str) -> list[SnapshotRow]:
    with storage.engine.connect() as conn:
        rows = conn.execute(select(SnapshotRow).where(SnapshotRow.symbol == symbol)).all()
    return list(rows)


def assert_full(storage: Storage, symbol: str, expected: MarketSnapshot) -> None:
    rows = stored(storage, symbol)
    assert len(rows) == 1
    row = rows[0]
    assert (row.mark_price, row.index_price, row.last_price) == (
        expected.mark_price,
        expected.index_price,
        expected.last_price,
    )
    assert (row.funding_rate, row.funding_interval_h) == (expected.funding_rate, expected.funding_interval_h)
    assert row.next_funding_time == expected.next_funding_time
    assert row.volume_24h_usd == expected.volume_24h_usd
    assert row.oi_contracts == expected.oi_contracts
    assert row.hour == int(T.timestamp()) // 3600


def test_a_cycle_snapshot_fills_a_backfilled_point_at_its_time(storage: Storage) -> None:
    assert storage.snapshots.add_snapshots([backfilled("AUSDT")]) == 1
    full = snapshot("AUSDT", T)
    storage.snapshots.add_snapshots([full])
    assert_full(storage, "AUSDT", full)
    # The cycle's own write path (one transaction with the scores) does the same.
    storage.snapshots.add_snapshots([backfilled("BUSDT")])
    storage.cycles.save_cycle(exchange=EX, snapshots=[snapshot("BUSDT", T), snapshot("CUSDT", T)])
    assert_full(storage, "BUSDT", snapshot("BUSDT", T))
    assert_full(storage, "CUSDT", snapshot("CUSDT", T))


def test_a_backfilled_point_leaves_a_stored_snapshot_as_it_was(storage: Storage) -> None:
    full = snapshot("AUSDT", T)
    storage.snapshots.add_snapshots([full])
    assert storage.snapshots.add_snapshots([replace(backfilled("AUSDT"), oi_contracts=1.0)]) == 0
    assert_full(storage, "AUSDT", full)
    series = storage.snapshots.market_history(EX, T, T, ["AUSDT"])
    assert series.mark == {"AUSDT": [(T, full.mark_price)]}
