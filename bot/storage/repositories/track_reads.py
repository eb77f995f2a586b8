"""The whole-market sampled reads behind ``/track``'s first read (``first_in_slots``).

A process's first whole-market ``/track`` reads every symbol's first row in every hourly
slot of the kept history: 500 symbols x 14 days are 168,000 rows from each of two tables.
Per row, SQLAlchemy's result processing of ``ts`` (parse the text, attach UTC) cost more
than the database's own work; the rows of a slot share one or two times, so here ``ts``
leaves the database unprocessed and each distinct value is converted once, by the
column's own result processor: the same aware datetimes, one object per time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, bindparam, func, select, type_coerce
from sqlalchemy.types import NullType

from bot.storage.db import mapped_reads
from bot.storage.models import ScoreRow, SnapshotRow

TimeSeriesModel = type[SnapshotRow] | type[ScoreRow]


def market_firsts(
    conn: Connection,
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    slots: Sequence[tuple[datetime, datetime]],
    wanted: Collection[str] | None,
    keep: Sequence[ColumnElement[bool]],
) -> dict[str, list[tuple[Any, ...]]]:
    """Every symbol's first row (``ts``, ``*columns``) in each slot ``[lo, hi)``, in time order;
    only ``wanted``'s symbols (all: ``None``). A first row failing ``keep`` leaves its slot empty.
    """
    if not slots:
        return {}
    stmt = _firsts_by_time(model, columns, exchange, keep)
    process = model.ts.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
    times: dict[Any, datetime] = {}  # raw ts → the aware datetime the column's type makes of it
    found: dict[str, list[tuple[Any, ...]]] = {}
    with mapped_reads(conn, when=len(slots) >= MAP_MIN_SLOTS):
        for lo, hi in slots:
            # Core rows, fetched at once (not a driver call a row).
            for row in conn.execute(stmt, {"lo": lo, "hi": hi}).all():
                symbol: str = row[0]
                held = found.get(symbol)
                if held is None:
                    if wanted is not None and symbol not in wanted:
                        continue
                    held = found[symbol] = []
                raw = row[1]
                ts = times.get(raw)
                if ts is None:
                    ts = times[raw] = raw if process is None else process(raw)
                # Concatenated: a Row's slice is a tuple already (unpacking it is slower).
                held.append((ts,) + row[2:])  # noqa: RUF005
    # No sort: the slots are read in ascending order and do not overlap, and each gives a
    # symbol at most one row, so each symbol's rows are in time order already.
    return found


MAP_MIN_SLOTS = 12
"""Slots from which a read maps the file (``bot.storage.db.mapped_reads``): a first read's span has 48; a
top-up's one or two slots took longer mapped (30 ms against 18 ms a slot, 500 symbols),
the map's pages being faulted in anew each time."""


def _firsts_by_time(
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    keep: Sequence[ColumnElement[bool]],
) -> Select[Any]:
    """Every symbol's first row in one slot ``[:lo, :hi)``: the first time per symbol from a
    range of the (exchange, ts, symbol) key alone, then those rows by that key; ``ts``
    unprocessed (``_time_memo``).

    One slot a statement, its bounds bound: a derived table of many slots joined on the
    time range made SQLite group every slot's rows through one temporary B-tree, four
    times slower than one plain range a slot (2 days of 500 symbols: 2.6 s against 0.65 s).
    """
    lo = bindparam("lo", type_=model.ts.type)
    hi = bindparam("hi", type_=model.ts.type)
    firsts = (
        select(model.symbol.label("symbol"), func.min(model.ts).label("ts"))
        .where(model.exchange == exchange, model.ts >= lo, model.ts < hi)
        .group_by(model.symbol)
        .subquery("firsts")
    )
    return (
        select(model.symbol, type_coerce(model.ts, NullType()).label("ts"), *columns)
        .join(firsts, and_(model.symbol == firsts.c.symbol, model.ts == firsts.c.ts))
        .where(model.exchange == exchange, *keep)
    )
