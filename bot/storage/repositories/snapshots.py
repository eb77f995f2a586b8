"""Market snapshots and the open-interest history read back from them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Dialect, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.collection import OiPoint
from bot.core.diff import hour_memo
from bot.core.market import MarketSnapshot
from bot.ports import MarketSeries, OiSeries
from bot.storage.db import transaction, write_transaction
from bot.storage.models import SnapshotRow, hour_of, table_of
from bot.storage.repositories._common import (
    Key,
    existing_keys,
    first_in_slots,
    new_rows,
    seek_filter,
    symbol_filter,
)
from bot.storage.repositories.bulk import binder, execute_rows, fill_clause

# MarketSnapshot's fields and the table's columns share their names; ``hour`` follows.
_FIELDS = tuple(f.name for f in fields(MarketSnapshot))
_COLUMNS = (*_FIELDS, "hour")
_KEY = ("exchange", "ts", "symbol")
_PREBOUND = ("ts", "next_funding_time")
_time = itemgetter(0)


def snapshot_to_row(snapshot: MarketSnapshot) -> dict[str, Any]:
    """Column values for one snapshot."""
    return {name: getattr(snapshot, name) for name in _FIELDS} | {"hour": hour_of(snapshot.ts)}


def snapshot_rows(
    snapshots: Sequence[MarketSnapshot], dialect: Dialect
) -> tuple[list[Key], list[tuple[Any, ...]]]:
    """The snapshots' keys, and their rows in ``_COLUMNS`` order with the times bound for
    ``dialect`` (``_PREBOUND``): a cycle's rows share their time, converted once."""
    table = table_of(SnapshotRow)
    bind_ts, bind_next = binder(dialect, table, "ts"), binder(dialect, table, "next_funding_time")
    hour_at = hour_memo()
    keys: list[Key] = []
    rows = []
    last: datetime | None = None
    bound: Any = None
    hour = 0
    for s in snapshots:
        ts = s.ts
        if ts is not last:  # a cycle's snapshots share one time object: bind it once, not per row
            last, bound, hour = ts, bind_ts(ts), hour_at(ts)
        keys.append((s.exchange, s.symbol, ts))
        rows.append(
            (
                s.exchange,
                s.symbol,
                bound,
                s.oi_contracts,
                s.oi_usd,
                s.mark_price,
                s.index_price,
                s.last_price,
                s.funding_rate,
                s.funding_interval_h,
                bind_next(s.next_funding_time),
                s.volume_24h_usd,
                hour,
            )
        )
    return keys, rows


def insert_snapshots(session: Session, snapshots: Sequence[MarketSnapshot]) -> int:
    """Insert snapshots not stored yet, as one executemany; returns how many were inserted.

    A snapshot whose (exchange, symbol, ts) is stored fills that row's NULL columns: a
    backfilled point (open interest only) stored at a cycle's exact time must not cost the
    cycle's snapshot its mark price and funding.
    """
    conn, table = session.connection(), table_of(SnapshotRow)
    keys, rows = snapshot_rows(snapshots, conn.dialect)
    stored = existing_keys(session, SnapshotRow, keys)
    if stored:
        # Rare (a backfill meeting a cycle): the rows of stored keys, each key once, as a fill.
        first: dict[Key, tuple[Any, ...]] = {}
        for key, row in zip(keys, rows, strict=True):
            if key in stored:
                first.setdefault(key, row)
        fill = fill_clause(conn.dialect, table, _KEY, _COLUMNS)
        execute_rows(conn, table, _COLUMNS, list(first.values()), suffix=fill, prebound=_PREBOUND, key=_KEY)
    fresh = new_rows(keys, rows, stored)
    # Plain tuples through the driver's executemany (``bulk``): no per-row parameter objects.
    execute_rows(conn, table, _COLUMNS, fresh, prebound=_PREBOUND, key=_KEY)
    return len(fresh)


class SqlSnapshotStore:
    """``bot.ports.SnapshotStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def add_snapshots(self, snapshots: Sequence[MarketSnapshot]) -> int:
        with write_transaction(self._sessions, "store snapshots") as session:
            return insert_snapshots(session, snapshots)

    def latest_snapshot_time(self, exchange: str) -> datetime | None:
        stmt = select(func.max(SnapshotRow.ts)).where(SnapshotRow.exchange == exchange)
        with transaction(self._sessions, "read the latest snapshot time") as session:
            return session.scalar(stmt)

    def oi_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, OiPoint]:
        # The tolerance window holds a few rows per symbol: read them and keep the newest.
        stmt = select(SnapshotRow.symbol, SnapshotRow.ts, SnapshotRow.oi_contracts, SnapshotRow.oi_usd).where(
            SnapshotRow.exchange == exchange,
            SnapshotRow.ts >= at - tolerance,
            SnapshotRow.ts <= at,
            SnapshotRow.oi_contracts.is_not(None),
            *seek_filter(SnapshotRow, at - tolerance, at, symbols),
        )
        wanted = None if symbols is None else set(symbols)
        found: dict[str, OiPoint] = {}
        with transaction(self._sessions, "read open interest") as session:
            for symbol, ts, oi, oi_usd in session.execute(stmt):
                if oi is None or (wanted is not None and symbol not in wanted):
                    continue
                if symbol not in found or ts > found[symbol].ts:
                    found[symbol] = OiPoint(ts=ts, oi_contracts=oi, oi_usd=oi_usd)
        return found

    def market_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
    ) -> MarketSeries:
        # One pass over the window for both series: the cycle reads four windows per run.
        # In the (exchange, ts, symbol) index's order: no sort step for the whole market
        # (a symbol list is sought by hour and symbol, and sorted), and each symbol's points
        # still arrive oldest first.
        seek = seek_filter(SnapshotRow, start, end, symbols)
        stmt = select(
            SnapshotRow.symbol, SnapshotRow.ts, SnapshotRow.oi_contracts, SnapshotRow.mark_price
        ).where(
            SnapshotRow.exchange == exchange,
            SnapshotRow.ts >= start,
            SnapshotRow.ts <= end,
            or_(SnapshotRow.oi_contracts.is_not(None), SnapshotRow.mark_price.is_not(None)),
            *seek,
        )
        if not seek:
            # The key's own order: asked of a symbol list's seeks, it would tempt the
            # planner into the key's time range (every symbol's rows) to skip a sort.
            stmt = stmt.order_by(SnapshotRow.ts, SnapshotRow.symbol)
        wanted = None if symbols is None else set(symbols)
        oi_series: OiSeries = {}
        mark_series: OiSeries = {}
        with transaction(self._sessions, "read open-interest and mark-price history") as session:
            # Core rows, not the ORM's: a 5,000-symbol window is tens of thousands of them.
            for symbol, ts, oi, mark in session.connection().execute(stmt):
                if wanted is not None and symbol not in wanted:
                    continue
                if oi is not None:
                    oi_series.setdefault(symbol, []).append((ts, oi))
                if mark is not None:
                    mark_series.setdefault(symbol, []).append((ts, mark))
        if seek:
            for series in (*oi_series.values(), *mark_series.values()):
                series.sort(key=_time)
        return MarketSeries(oi=oi_series, mark=mark_series)

    def mark_samples(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> OiSeries:
        with transaction(self._sessions, "read sampled mark prices") as session:
            rows = first_in_slots(
                session,
                SnapshotRow,
                (SnapshotRow.mark_price,),
                exchange,
                start,
                end,
                every=every,
                slot=slot,
                symbols=symbols,
                keep=(SnapshotRow.mark_price.is_not(None),),
            )
        # Already (ts, mark_price) tuples, mark price never NULL (``keep``): no copy of every row.
        return cast(OiSeries, rows)

    def latest_snapshots(
        self, exchange: str, since: datetime, symbols: Collection[str] | None = None
    ) -> dict[str, MarketSnapshot]:
        # The window is a cycle or two: a few rows per symbol, the newest kept here.
        stmt = (
            select(*(getattr(SnapshotRow, name) for name in _FIELDS))
            .where(
                SnapshotRow.exchange == exchange,
                SnapshotRow.ts >= since,
                SnapshotRow.mark_price.is_not(None),  # a cycle's, not a backfilled OI point
            )
            .where(*symbol_filter(SnapshotRow, symbols))
        )
        wanted = None if symbols is None else set(symbols)
        found: dict[str, MarketSnapshot] = {}
        with transaction(self._sessions, "read the latest snapshots") as session:
            for row in session.connection().execute(stmt):
                values: tuple[Any, ...] = tuple(row)
                snap = MarketSnapshot(*values)
                if wanted is not None and snap.symbol not in wanted:
                    continue
                held = found.get(snap.symbol)
                if held is None or snap.ts > held.ts:
                    found[snap.symbol] = snap
        return found
