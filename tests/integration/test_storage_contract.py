"""The SQL stores, migrated on SQLite and on PostgreSQL, honour the store contract (as the fakes do)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from datetime import UTC, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.market import MarketSnapshot
from bot.storage.facade import Storage
from bot.storage.models import SnapshotRow
from tests.fakes.contract import CHECKS, STEP, T0, Stores, snapshot


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_sql_stores_honour_the_store_contract(check: Callable[[Stores], None], storage: Storage) -> None:
    check(storage)


def test_every_snapshot_column_round_trips(storage: Storage) -> None:
    """The columns no port reads back (``market_history`` reads OI and mark price) are kept exactly too."""
    plus2 = timezone(timedelta(hours=2))
    snaps = [
        snapshot("BTCUSDT", T0),
        replace(snapshot("BTCUSDT", T0 + STEP, oi=None), mark_price=None),
        replace(snapshot("ETHUSDT", T0.astimezone(plus2)), next_funding_time=None),
    ]
    assert storage.snapshots.add_snapshots(snaps) == 3
    names = [f.name for f in fields(MarketSnapshot)]
    with Session(storage.engine) as session:
        rows = session.scalars(select(SnapshotRow).order_by(SnapshotRow.symbol, SnapshotRow.ts)).all()
        stored = [MarketSnapshot(**{name: getattr(row, name) for name in names}) for row in rows]
    assert stored == snaps
    assert all(s.ts.tzinfo is UTC for s in stored)  # the same instants, handed back in UTC
