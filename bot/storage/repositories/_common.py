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
    Integer,
    Row,
    Select,
    Subquery,
    and_,
    bindparam,
    false,
    func,
    literal,
    select,
    true,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from bot.storage.models import HOUR_SECONDS, ScoreRow, SnapshotRow, hour_of
from bot.storage.repositories.track_reads import market_firsts

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


MAX_SEEK_HOURS = 1_000
"""Hours per ``hour IN (...)`` list (bound parameters, as ``IN_CHUNK``): 41 days."""


def hours_between(start: datetime, end: datetime) -> list[int]:
    """The hour buckets (``bot.storage.models.hour_of``) of ``start <= ts <= end``."""
    return list(range(hour_of(start), hour_of(end) + 1))


def seek_filter(
    model: TimeSeriesModel, start: datetime, end: datetime, symbols: Collection[str] | None
) -> list[ColumnElement[bool]]:
    """``symbol_filter`` for a read of ``start <= ts <= end``, spelled so the database seeks
    the (exchange, hour, symbol, ts) index once per (hour, symbol) pair.

    Naming the hours as a list, not a range: with ``hour BETWEEN`` the index is read for
    every symbol of every hour in it, the symbol only a filter.
    """
    found = symbol_filter(model, symbols)
    hours = hours_between(start, end)
    if found and len(hours) <= MAX_SEEK_HOURS:
        found.insert(0, model.hour.in_(hours))
    return found


def newest_at_or_before(
    session: Session,
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    symbol: str,
    end: datetime | None = None,
) -> Row[Any] | None:
    """One symbol's newest row (of ``columns``, ``ts`` among them) with ``ts <= end`` (any
    time without ``end``).

    Walks back from ``end`` (or the exchange's newest time) an hour list at a time, growing
    each step, to the exchange's oldest hour: a listed symbol is found in the first two
    hours, one index seek each; an unknown one costs one seek per stored hour.
    """
    # Lone min() and max(): SQLite answers each with one probe of the primary key (both in
    # one query would scan the exchange's rows).
    newest: datetime | None = session.scalar(select(func.max(model.ts)).where(model.exchange == exchange))
    if newest is None:
        return None
    top, bottom, step = hour_of(newest if end is None or end > newest else end), None, 2
    at = [column.name for column in columns].index("ts")
    while bottom is None or top >= bottom:
        hours = list(range(top - step + 1, top + 1))
        # The newest is picked here from the symbol's rows of those hours: an ORDER BY ts
        # would tempt the planner into walking the (exchange, ts, symbol) key backwards.
        stmt = select(*columns).where(
            model.exchange == exchange, model.hour.in_(hours), model.symbol == symbol
        )
        if end is not None:
            stmt = stmt.where(model.ts <= end)
        found = max(session.execute(stmt), key=lambda row: row[at], default=None)
        if found is not None:
            return found
        if bottom is None:
            oldest: datetime | None = session.scalar(
                select(func.min(model.ts)).where(model.exchange == exchange)
            )
            bottom = hour_of(oldest) if oldest is not None else top
        top -= len(hours)
        step = min(step * 4, MAX_SEEK_HOURS)
    return None


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
    key (or, for a short symbol list, seeks of the (exchange, hour, symbol, ts) index),
    and picks the newest per symbol here.
    """
    stmt = select(model.symbol, model.ts).where(
        model.exchange == exchange,
        model.ts >= start,
        model.ts <= end,
        *seek_filter(model, start, end, symbols),
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
    session: Session, model: TimeSeriesModel, keys: Sequence[Key], *also: ColumnElement[bool]
) -> set[Key]:
    """Which (exchange, symbol, ts) keys of a time-series table are already stored (and
    their rows meet the conditions ``also``).

    Looks up by exchange and time (a cycle has one time per symbol, a backfill a few
    hundred), using the (exchange, ts, symbol) key, rather than one query per symbol.
    """
    stamps: dict[str, set[datetime]] = {}
    if not keys:
        return set()
    for exchange, ts in {(key[0], key[2]) for key in keys}:
        stamps.setdefault(exchange, set()).add(ts)
    found: set[Key] = set()
    for exchange, times in stamps.items():
        for chunk in chunked(list(times)):
            stmt = select(model.symbol, model.ts).where(
                model.exchange == exchange, model.ts.in_(chunk), *also
            )
            found.update((exchange, symbol, ts) for symbol, ts in session.execute(stmt))
    return found


Key = tuple[str, str, datetime]
"""(exchange, symbol, ts): the primary key of a time-series row (in the table as (exchange, ts, symbol))."""


def new_rows(keys: Sequence[Key], rows: Sequence[tuple[Any, ...]], stored: set[Key]) -> list[tuple[Any, ...]]:
    """``rows`` (each of the ``keys`` at the same position) whose key is neither ``stored``
    (``existing_keys``) nor repeated earlier in ``rows``.
    """
    if not stored and len(set(keys)) == len(keys):
        return list(rows)  # a cycle: a new time, one row per symbol
    kept, seen = [], set(stored)
    for key, row in zip(keys, rows, strict=True):
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


SLOTS_PER_QUERY = 200
"""Sampling slots per query: SQLite allows 500 terms in a compound SELECT."""
NAMES_PER_QUERY = 250
"""Symbols per query of a symbol list's per-slot seeks (a compound SELECT, as the slots)."""


def sample_starts(start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """The whole multiples of ``every`` since the Unix epoch (UTC) with ``start <= h <= end``."""
    step = every.total_seconds()
    if step <= 0:
        raise ValueError(f"sampling period must be positive, got {every}")
    first, last = ceil(start.timestamp() / step), int(end.timestamp() // step)
    return [datetime.fromtimestamp(k * step, UTC) for k in range(first, last + 1)]


def _slot_pieces(
    starts: Sequence[datetime], slot: timedelta, after_end: datetime, *, by_hour: bool
) -> list[tuple[datetime, datetime, int]]:
    """(lo, hi, hour) of each slot ``[h, min(h + slot, after_end))``, cut at the hour buckets'
    edges when ``by_hour`` (so each piece names the one hour its rows are in), else whole
    (``hour`` then unused)."""
    pieces = []
    for h in starts:
        lo, hi = h, min(h + slot, after_end)
        while lo < hi:
            bucket = hour_of(lo)
            cut = min(hi, datetime.fromtimestamp((bucket + 1) * HOUR_SECONDS, UTC)) if by_hour else hi
            pieces.append((lo, cut, bucket))
            lo = cut
    return pieces


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
    symbol per period, chosen in the database; the first time per symbol and slot is found
    from an index (``GROUP BY``, ``MIN``, or a seek), and only those rows are read and leave
    the database. For the whole market (or a list longer than ``IN_CHUNK``) that is one
    statement per slot, a range of the (exchange, ts, symbol) key; for a symbol list the
    slots are a derived table of bound times, each cut at the hour buckets' edges, so each
    piece is one seek of the (exchange, hour, symbol, ts) index per symbol (a slot's first
    row is its first piece's that has one); slots at hour starts (hourly sampling) are read
    as each hour's first row instead (``_firsts_of_hours``). A first row that fails ``keep`` leaves its slot
    empty (filtering before the choice would read every row of the slot from the table).
    """
    if not timedelta(0) < slot <= every:
        raise ValueError(f"sampling slot must be within (0, {every}], got {slot}")
    wanted = None if symbols is None else set(symbols)
    listed = bool(symbol_filter(model, symbols))
    if listed and _at_hour_starts(every, slot):
        return _firsts_of_hours(
            session, model, columns, exchange, start, end, every, slot, wanted or (), keep
        )
    # The last slot stops at ``end`` (times have microseconds at the finest).
    after_end = end + timedelta(microseconds=1)
    pieces = _slot_pieces(sample_starts(start, end, every), slot, after_end, by_hour=listed)
    conn = session.connection()
    if not listed:
        return market_firsts(conn, model, columns, exchange, [(lo, hi) for lo, hi, _ in pieces], wanted, keep)
    found: dict[str, list[tuple[Any, ...]]] = {}
    for stmt, params in _slot_statements(model, columns, exchange, pieces, wanted or (), keep):
        # Core rows, not the ORM's: a whole market is a few hundred thousand of them,
        # fetched at once (not a driver call a row) and sliced (a row's slice is a tuple).
        for row in conn.execute(stmt, params).all():
            symbol: str = row[0]
            if wanted is None or symbol in wanted:
                found.setdefault(symbol, []).append(row[1:])
    step = every.total_seconds()
    for symbol, rows in found.items():
        rows.sort(key=lambda row: row[0])
        found[symbol] = _earliest_per_slot(rows, step)
    return found


def _at_hour_starts(every: timedelta, slot: timedelta) -> bool:
    """Every slot starts an hour bucket and ends within it (hourly sampling, ``/track``'s)."""
    return every.total_seconds() % HOUR_SECONDS == 0 and slot.total_seconds() <= HOUR_SECONDS


def _firsts_of_hours(
    session: Session,
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    start: datetime,
    end: datetime,
    every: timedelta,
    slot: timedelta,
    symbols: Collection[str],
    keep: Sequence[ColumnElement[bool]],
) -> dict[str, list[tuple[Any, ...]]]:
    """``first_in_slots`` of a symbol list when each slot is the start of one hour bucket.

    A slot's first row is then its hour's first row, if that lies in the slot: one seek of
    the (exchange, hour, symbol, ts) index per symbol and hour, the hours counted by the
    database (a recursive CTE of three bound numbers) where a derived table of every slot's
    bounds cost more to build and key in Python than the seeks; the rows past their slot
    are dropped here.
    """
    starts = sample_starts(start, end, every)
    if not starts:
        return {}
    slot_s, step = slot.total_seconds(), every.total_seconds()
    hours = {"first": hour_of(starts[0]), "last": hour_of(starts[-1]), "step": int(step // HOUR_SECONDS)}
    found: dict[str, list[tuple[Any, ...]]] = {}
    conn = session.connection()
    for names in chunked(sorted(symbols), NAMES_PER_QUERY):
        for row in conn.execute(_firsts_by_hour(model, columns, exchange, names, keep), hours).all():
            ts: datetime = row[1]
            # In its slot: within ``slot`` of its hour's start, and not past ``end``.
            if ts.timestamp() % step < slot_s and ts <= end:
                found.setdefault(row[0], []).append(row[1:])
    for rows in found.values():
        rows.sort(key=lambda row: row[0])
    return found


def _firsts_by_hour(
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    symbols: Sequence[str],
    keep: Sequence[ColumnElement[bool]],
) -> Select[Any]:
    """Each of ``symbols``' first row in each hour ``:first, :first + :step, … :last``."""
    first = sql_cast(bindparam("first", type_=Integer), Integer)
    hours = select(first.label("hour")).cte("hours", recursive=True)
    step = sql_cast(bindparam("step", type_=Integer), Integer)
    hours = hours.union_all(select(hours.c.hour + step).where(hours.c.hour + step <= bindparam("last")))
    terms = [select(literal(symbol).label("symbol")) for symbol in symbols]
    names = (terms[0] if len(terms) == 1 else union_all(*terms)).subquery("names")
    # The first time alone, from the index (it holds every key column); then that row by key.
    first_ts = (
        select(model.ts)
        .where(model.exchange == exchange, model.hour == hours.c.hour, model.symbol == names.c.symbol)
        .order_by(model.ts)
        .limit(1)
        .scalar_subquery()
    )
    firsts = (
        select(names.c.symbol.label("symbol"), first_ts.label("ts"))
        .select_from(names.join(hours, true()))
        .subquery("firsts")
    )
    return _rows_at(model, columns, exchange, firsts, keep)


def _rows_at(
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    firsts: Subquery,
    keep: Sequence[ColumnElement[bool]],
) -> Select[Any]:
    """The rows of ``exchange`` at ``firsts``' (symbol, ts) pairs, each by its primary key;
    a pair whose time is NULL (nothing found) matches no row."""
    at_key = and_(model.exchange == exchange, model.ts == firsts.c.ts, model.symbol == firsts.c.symbol)
    return select(model.symbol, model.ts, *columns).select_from(firsts).join(model, at_key).where(*keep)


def _earliest_per_slot(rows: list[tuple[Any, ...]], step: float) -> list[tuple[Any, ...]]:
    """A slot cut into pieces may have a first row in several: keep its earliest.

    ``rows`` are sorted by time; a slot is a multiple of ``step`` seconds since the epoch.
    """
    kept: list[tuple[Any, ...]] = []
    last = None
    for row in rows:
        slot_number = int(row[0].timestamp() // step)
        if slot_number != last:
            kept.append(row)
            last = slot_number
    return kept


def _slot_statements(
    model: TimeSeriesModel,
    columns: Sequence[Any],
    exchange: str,
    pieces: Sequence[tuple[datetime, datetime, int]],
    listed: Collection[str],
    keep: Sequence[ColumnElement[bool]],
) -> Iterator[tuple[Select[Any], dict[str, Any]]]:
    """``first_in_slots``' statements with their parameters for a symbol list: per-symbol
    seeks (slot pieces and names as derived tables). The whole market's are ``market_firsts``'."""
    ts_type = model.ts.type
    names = list(listed)
    for chunk in chunked(pieces, SLOTS_PER_QUERY):
        bounds = [
            select(
                literal(lo, ts_type).label("lo"),
                literal(hi, ts_type).label("hi"),
                literal(hour).label("hour"),
            )
            for lo, hi, hour in chunk
        ]
        slots = (bounds[0] if len(bounds) == 1 else union_all(*bounds)).subquery("slots")
        for part in chunked(names, NAMES_PER_QUERY):
            yield _firsts_by_symbol(model, columns, slots, exchange, part, keep), {}


def _firsts_by_symbol(
    model: TimeSeriesModel,
    columns: Sequence[Any],
    slots: Subquery,
    exchange: str,
    symbols: Sequence[str],
    keep: Sequence[ColumnElement[bool]],
) -> Select[Any]:
    """Each symbol's first row per slot piece, found by one seek of the (exchange, hour,
    symbol, ts) index.

    Scanning a slot's time range reads every symbol's rows in it: for a few symbols of a
    large market that is most of the work (a cycle's 20 alerts over 14 days of 500 symbols:
    600 ms of index on SQLite). Here each (symbol, piece) pair names its first row's time
    (the index holds it), and the rows are read by primary key.
    """
    terms = [select(literal(symbol).label("symbol")) for symbol in symbols] or [
        select(literal("").label("symbol")).where(false())
    ]
    names = (terms[0] if len(terms) == 1 else union_all(*terms)).subquery("names")
    # Not also ``ts <= end`` (the slots stop there): the planner could then pick the
    # (exchange, ts, symbol) key and scan every symbol's rows again.
    first_ts = (
        select(model.ts)
        .where(
            model.exchange == exchange,
            model.hour == slots.c.hour,
            model.symbol == names.c.symbol,
            model.ts >= slots.c.lo,
            model.ts < slots.c.hi,
        )
        .order_by(model.ts)
        .limit(1)
        .scalar_subquery()
    )
    firsts = (
        select(names.c.symbol.label("symbol"), first_ts.label("ts"))
        .select_from(names.join(slots, true()))
        .subquery("firsts")
    )
    return _rows_at(model, columns, exchange, firsts, keep)
