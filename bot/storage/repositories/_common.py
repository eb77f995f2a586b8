"""Helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from math import ceil
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Executable,
    Select,
    Subquery,
    and_,
    false,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy.orm import Session

from bot.storage.models import ScoreRow, SnapshotRow

T = TypeVar("T")

# Bound parameters per IN (...) list: far below every backend's limit (SQLite's was 999
# before 3.32), and large enough that a 5,000-symbol cycle needs only a few round trips.
IN_CHUNK = 500


def execute_dml(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE and return how many rows it touched."""
    # DML results are CursorResults; Session.execute is typed with the general Result.
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


TimeSeriesModel = type[SnapshotRow] | type[ScoreRow]
"""Tables keyed by (exchange, symbol, ts)."""

M = TypeVar("M", SnapshotRow, ScoreRow)


def symbol_filter(model: TimeSeriesModel, symbols: Collection[str] | None) -> list[ColumnElement[bool]]:
    """An IN filter for a short symbol list; callers filter longer lists after the query.

    A long IN list costs one bound parameter per symbol, while the recent-window queries
    that take a symbol list read only a few rows per symbol anyway.
    """
    if symbols is None or len(symbols) > IN_CHUNK:
        return []
    return [model.symbol.in_(list(symbols))]


def newest_in_window(
    session: Session,
    model: TimeSeriesModel,
    exchange: str,
    *,
    start: datetime,
    end: datetime,
    symbols: Collection[str] | None = None,
) -> dict[str, datetime]:
    """Each symbol's newest time with ``start <= ts <= end``.

    Reads only (symbol, ts) pairs of the window, a range of the (exchange, ts, symbol)
    key, and picks the newest per symbol here. A SQL ``GROUP BY symbol`` would tempt
    SQLite's planner into walking the (exchange, symbol, ts) index over the exchange's
    whole history instead (hundreds of milliseconds at 30 days of 500 symbols).
    """
    stmt = select(model.symbol, model.ts).where(
        model.exchange == exchange, model.ts >= start, model.ts <= end, *symbol_filter(model, symbols)
    )
    wanted = None if symbols is None else set(symbols)
    newest: dict[str, datetime] = {}
    for symbol, ts in session.execute(stmt):
        if (wanted is None or symbol in wanted) and (symbol not in newest or ts > newest[symbol]):
            newest[symbol] = ts
    return newest


def rows_at(
    session: Session,
    model: type[M],
    exchange: str,
    times: dict[str, datetime],
    where: Sequence[ColumnElement[bool]] = (),
) -> list[M]:
    """The rows at the given (symbol → ts) keys that also match ``where``.

    Grouped by time, as a cycle gives most symbols the same one: usually one query.
    """
    by_time: dict[datetime, list[str]] = {}
    for symbol, ts in times.items():
        by_time.setdefault(ts, []).append(symbol)
    rows: list[M] = []
    for ts, symbols in by_time.items():
        for chunk in chunked(symbols):
            stmt = select(model).where(
                model.exchange == exchange, model.ts == ts, model.symbol.in_(chunk), *where
            )
            rows.extend(session.scalars(stmt))
    return rows


def existing_keys(
    session: Session, model: TimeSeriesModel, keys: Sequence[tuple[str, str, datetime]]
) -> set[tuple[str, str, datetime]]:
    """Which (exchange, symbol, ts) keys of a time-series table are already stored.

    Looks up by exchange and time (a cycle has one time per symbol, a backfill a few
    hundred), using the (exchange, ts, symbol) key, rather than one query per symbol.
    """
    stamps: dict[str, set[datetime]] = {}
    for exchange, _symbol, ts in keys:
        stamps.setdefault(exchange, set()).add(ts)
    found: set[tuple[str, str, datetime]] = set()
    for exchange, times in stamps.items():
        for chunk in chunked(list(times)):
            stmt = select(model.symbol, model.ts).where(model.exchange == exchange, model.ts.in_(chunk))
            found.update((exchange, symbol, ts) for symbol, ts in session.execute(stmt))
    return found


def new_rows(
    session: Session, model: TimeSeriesModel, rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Drop rows whose (exchange, symbol, ts) is stored already or repeated in ``rows``.

    Rows are tuples that start with exchange, symbol and ts (``bot.storage.repositories.bulk``).
    """
    unique: dict[tuple[str, str, datetime], tuple[Any, ...]] = {}
    for row in rows:
        unique.setdefault(row[:3], row)
    if not unique:
        return []
    stored = existing_keys(session, model, list(unique))
    if not stored:
        return list(unique.values())
    return [row for key, row in unique.items() if key not in stored]


SLOTS_PER_QUERY = 200
"""Sampling slots per query: SQLite allows 500 terms in a compound SELECT."""
FEW_SYMBOLS = 50
"""Up to this many symbols, each slot's first row is sought per symbol (the collector's
evidence read for a cycle's alerts); more are found by scanning each slot's time range."""


def sample_starts(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """The whole multiples of ``every`` since the Unix epoch (UTC) with ``start <= h <= end``."""
    step = every.total_seconds()
    if step <= 0:
        raise ValueError(f"sampling period must be positive, got {every}")
    first, last = ceil(start.timestamp() / step), int(end.timestamp() // step)
    return [datetime.fromtimestamp(k * step, UTC) for k in range(first, last + 1)]


def first_in_slots(
    session: Session,
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    start: datetime,
    end: datetime,
    *,
    every: timedelta,
    slot: timedelta,
    symbols: Collection[str] | None = None,
    keep: Sequence[ColumnElement[bool]] = (),
) -> dict[str, list[tuple[Any, ...]]]:
    """Each symbol's first row (``ts``, ``*columns``) in each slot ``[h, h + slot)``, ``ts <= end``.

    ``h`` runs over ``sample_starts(start, end, every)`` (``slot <= every``): one row per
    symbol per period, chosen in the database. The slots are a derived table of bound
    times joined on ``ts``, so each is a range of the (exchange, ts, symbol) or
    (exchange, symbol, ts) key; the first time per symbol and slot is found from that
    index (``GROUP BY``, ``MIN``), and only those rows are read and leave the database.
    A first row that fails ``keep`` leaves its slot empty (filtering before the choice
    would read every row of the slot from the table, not the index).
    """
    if not timedelta(0) < slot <= every:
        raise ValueError(f"sampling slot must be within (0, {every}], got {slot}")
    wanted = None if symbols is None else set(symbols)
    found: dict[str, list[tuple[Any, ...]]] = {}
    ts_type = model.ts.type
    # The last slot stops at ``end`` (times have microseconds at the finest).
    after_end = end + timedelta(microseconds=1)
    for chunk in chunked(sample_starts(start, end, every), SLOTS_PER_QUERY):
        bounds = [
            select(literal(h, ts_type).label("lo"), literal(min(h + slot, after_end), ts_type).label("hi"))
            for h in chunk
        ]
        slots = (bounds[0] if len(bounds) == 1 else union_all(*bounds)).subquery("slots")
        if symbols is not None and len(symbols) <= FEW_SYMBOLS:
            stmt = _firsts_by_symbol(model, columns, slots, exchange, list(symbols), keep)
        else:
            # The first time per symbol and slot from the index alone, then those rows by key
            # (the unique key: one row per symbol and slot).
            firsts = (
                select(model.symbol.label("symbol"), func.min(model.ts).label("ts"))
                .join(slots, and_(model.ts >= slots.c.lo, model.ts < slots.c.hi))
                .where(model.exchange == exchange, model.ts <= end, *symbol_filter(model, symbols))
                .group_by(model.symbol, slots.c.lo)
                .subquery("firsts")
            )
            stmt = (
                select(model.symbol, model.ts, *columns)
                .join(firsts, and_(model.symbol == firsts.c.symbol, model.ts == firsts.c.ts))
                .where(model.exchange == exchange, *keep)
            )
        # Core rows, not the ORM's: a whole market is a few hundred thousand of them.
        for row in session.connection().execute(stmt):
            symbol: str = row[0]
            if wanted is None or symbol in wanted:
                found.setdefault(symbol, []).append(tuple(row[1:]))
    for rows in found.values():
        rows.sort(key=lambda row: row[0])
    return found


def _firsts_by_symbol(
    model: TimeSeriesModel,
    columns: Sequence[Any],
    slots: Subquery,
    exchange: str,
    symbols: Sequence[str],
    keep: Sequence[ColumnElement[bool]],
) -> Select[Any]:
    """Each symbol's first row per slot, found by one seek of the (exchange, symbol, ts) index.

    Scanning a slot's time range reads every symbol's rows in it: for a few symbols of a
    large market that is most of the work (a cycle's 20 alerts over 14 days of 500 symbols:
    600 ms of index on SQLite). Here each (symbol, slot) pair names its first row's id, and
    the rows are read by primary key.
    """
    terms = [select(literal(symbol).label("symbol")) for symbol in symbols] or [
        select(literal("").label("symbol")).where(false())
    ]
    names = (terms[0] if len(terms) == 1 else union_all(*terms)).subquery("names")
    # Not also ``ts <= end`` (the slots stop there): SQLite would then pick the
    # (exchange, ts, symbol) key and scan every symbol's rows again.
    first_id = (
        select(model.id)
        .where(
            model.exchange == exchange,
            model.symbol == names.c.symbol,
            model.ts >= slots.c.lo,
            model.ts < slots.c.hi,
        )
        .order_by(model.ts)
        .limit(1)
        .scalar_subquery()
    )
    firsts = select(first_id.label("id")).select_from(names.join(slots, true())).subquery("firsts")
    return select(model.symbol, model.ts, *columns).join(firsts, model.id == firsts.c.id).where(*keep)
