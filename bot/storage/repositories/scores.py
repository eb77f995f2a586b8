"""Score history and the read models of ``/top``, ``/score`` and charts."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import fields
from datetime import datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Dialect,
    Row,
    Select,
    String,
    and_,
    bindparam,
    func,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased, sessionmaker

from bot.core.diff import hour_memo
from bot.core.models import Band, Bias, Components, Regime, ScoreInputs, ScoreResult
from bot.core.records import ScoreCard, ScoreMark, ScoreRecord
from bot.core.regimes import REGIME_LABELS
from bot.ports import BandSeries, ScoreAt
from bot.storage.db import transaction
from bot.storage.models import ScoreRow, hour_of, table_of
from bot.storage.repositories._common import (
    MAX_SEEK_HOURS,
    Key,
    chunked,
    existing_keys,
    first_in_slots,
    hours_between,
    new_rows,
    newest_at_or_before,
    newest_in_window,
    rows_at,
)
from bot.storage.repositories.bulk import binder, bool_binder, execute_rows, upsert_clause

# The inputs' and components' field names are the table's column names (none collide).
_INPUT_FIELDS = tuple(f.name for f in fields(ScoreInputs))
_COMPONENT_FIELDS = tuple(f.name for f in fields(Components))

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


_ROW_COLUMNS = (
    "exchange",
    "symbol",
    "ts",
    "score",
    "band",
    "bias",
    "regime",
    "partial",
    "accepted",
    *_INPUT_FIELDS,
    *_COMPONENT_FIELDS,
    "hour",
)
_SCORE_KEY = ("exchange", "ts", "symbol")
_INPUT_VALUES = attrgetter(*_INPUT_FIELDS)
_COMPONENT_VALUES = attrgetter(*_COMPONENT_FIELDS)


def _score_values(
    record: ScoreRecord, ts: Any, hour: int, boolean: Callable[[bool], Any] = bool
) -> tuple[Any, ...]:
    """``score_to_row``'s values as a tuple in ``_ROW_COLUMNS`` order, ``ts`` as given, the
    bools as ``boolean`` gives them (``bool_binder``)."""
    # ``_value_`` is what ``.value`` returns, read without the property's Python-level
    # descriptor (a cycle reads tens of thousands of them).
    result = record.result
    return (
        record.exchange,
        record.symbol,
        ts,
        result.score,
        result.band._value_,
        result.bias._value_,
        result.regime._value_,
        boolean(result.partial),
        boolean(record.accepted),
        *_INPUT_VALUES(record.inputs),
        *_COMPONENT_VALUES(result.components),
        hour,
    )


def score_to_row(record: ScoreRecord) -> dict[str, Any]:
    """Column values for one score."""
    return dict(zip(_ROW_COLUMNS, _score_values(record, record.ts, hour_of(record.ts)), strict=True))


def score_rows(records: Sequence[ScoreRecord], dialect: Dialect) -> tuple[list[Key], list[tuple[Any, ...]]]:
    """The records' keys, and their rows in ``_ROW_COLUMNS`` order with ``ts`` bound for
    ``dialect``: a cycle's scores share their time, converted once."""
    bind_ts = binder(dialect, table_of(ScoreRow), "ts")
    boolean = bool_binder(dialect)
    hour_at = hour_memo()
    keys: list[Key] = []
    rows = []
    last: datetime | None = None
    bound: Any = None
    hour = 0
    for record in records:
        ts = record.ts
        if ts is not last:  # a cycle's records share one time object: bind it once, not per row
            last, bound, hour = ts, bind_ts(ts), hour_at(ts)
        keys.append((record.exchange, record.symbol, ts))
        rows.append(_score_values(record, bound, hour, boolean))
    return keys, rows


def row_to_score(row: ScoreRow) -> ScoreRecord:
    """The score record a stored row holds; the label comes from the regime code."""
    regime = Regime(row.regime)
    return ScoreRecord(
        exchange=row.exchange,
        symbol=row.symbol,
        ts=row.ts,
        inputs=ScoreInputs(**{name: getattr(row, name) for name in _INPUT_FIELDS}),
        result=ScoreResult(
            score=row.score,
            band=Band(row.band),
            bias=Bias(row.bias),
            regime=regime,
            label=REGIME_LABELS[regime],
            partial=row.partial,
            components=Components(**{name: getattr(row, name) for name in _COMPONENT_FIELDS}),
        ),
        accepted=row.accepted,
    )


def insert_scores(session: Session, records: Sequence[ScoreRecord]) -> int:
    """Insert scores not stored yet, as one executemany; returns how many were written.

    An accepted score whose key is stored, not accepted, replaces that row: a reading of an
    unchanged data time scored partial before and complete now becomes the state's ``last``,
    and the alert-state load rebuilds ``last`` from the accepted row (``alert_states``).
    """
    conn = session.connection()
    keys, rows = score_rows(records, conn.dialect)
    stored = existing_keys(session, ScoreRow, keys)
    replaced = []
    if stored:  # rare: never in a cycle of new data times
        taken = [
            (key, r)
            for key, r, rec in zip(keys, rows, records, strict=True)
            if rec.accepted and key in stored
        ]
        accepted = existing_keys(session, ScoreRow, [key for key, _ in taken], ScoreRow.accepted.is_(True))
        replaced = [r for key, r in taken if key not in accepted]
    rows = new_rows(keys, rows, stored)
    # Plain tuples through the driver's executemany (``bulk``): no per-row parameter objects.
    execute_rows(conn, table_of(ScoreRow), _ROW_COLUMNS, rows, prebound=("ts",), key=_SCORE_KEY)
    if replaced:
        upsert = upsert_clause(conn.dialect, _SCORE_KEY, _ROW_COLUMNS)
        execute_rows(
            conn, table_of(ScoreRow), _ROW_COLUMNS, replaced, suffix=upsert, prebound=("ts",), key=_SCORE_KEY
        )
    return len(rows) + len(replaced)


# Every column a ScoreRecord needs, read as plain Core rows: a read model of a few hundred
# records does not need the ORM's identity map and per-object state (most of /top's cost).
_RECORD_COLUMNS = tuple(c for c in table_of(ScoreRow).c if c.name not in ("id", "hour"))
_POSITION = {c.name: i for i, c in enumerate(_RECORD_COLUMNS)}
# Each dataclass's fields in declaration order, picked by position: attribute access by
# name on a Core row costs more than building the record.
_INPUTS = itemgetter(*(_POSITION[name] for name in _INPUT_FIELDS))
_COMPONENTS = itemgetter(*(_POSITION[name] for name in _COMPONENT_FIELDS))
_HEAD = itemgetter(
    *(_POSITION[name] for name in ("exchange", "symbol", "ts", "score", "band", "bias", "regime"))
)
_PARTIAL = _POSITION["partial"]
_ACCEPTED = _POSITION["accepted"]


def _records() -> Select[Any]:
    return select(*_RECORD_COLUMNS)


def _record_of(row: Row[Any]) -> ScoreRecord:
    """The score record of a Core row of ``_RECORD_COLUMNS`` (as ``row_to_score``)."""
    exchange, symbol, ts, score, band, bias, regime_code = _HEAD(row)
    regime = Regime(regime_code)
    return ScoreRecord(
        exchange=exchange,
        symbol=symbol,
        ts=ts,
        inputs=ScoreInputs(*_INPUTS(row)),
        result=ScoreResult(
            score=score,
            band=Band(band),
            bias=Bias(bias),
            regime=regime,
            label=REGIME_LABELS[regime],
            partial=row[_PARTIAL],
            components=Components(*_COMPONENTS(row)),
        ),
        accepted=row[_ACCEPTED],
    )


def _score_at(
    session: Session, exchange: str, symbol: str, at: datetime, tolerance: timedelta
) -> Row[Any] | None:
    """The symbol's newest score with ``at - tolerance <= ts <= at`` (a seek per hour)."""
    stmt = _records().where(
        ScoreRow.exchange == exchange,
        ScoreRow.hour.in_(hours_between(at - tolerance, at)),
        ScoreRow.symbol == symbol,
        ScoreRow.ts <= at,
        ScoreRow.ts >= at - tolerance,
    )
    # The newest picked here from the window's few rows: ORDER BY ts would tempt the
    # planner into the (exchange, ts, symbol) key's range (every symbol's rows).
    return max(session.execute(stmt), key=_ts_of, default=None)


def _latest_rows() -> Select[Any]:
    """Each symbol's newest row with ``ts >= :since`` on ``:exchange``.

    The newest time per symbol from the window's (symbol, ts) pairs, a range of the
    (exchange, ts, symbol) key read inside the database (``GROUP BY``), then those rows by
    that key. The window is a few cycles (/top: twice the collection interval), so the
    cost follows the symbols times the cycles in it, not the history. Built once, with
    bound parameters: building it costs more than running it.
    """
    exchange = bindparam("exchange", type_=String())
    since = bindparam("since", type_=ScoreRow.ts.type)
    window = aliased(ScoreRow)
    latest = (
        select(window.symbol.label("symbol"), func.max(window.ts).label("ts"))
        .where(window.exchange == exchange, window.ts >= since)
        .group_by(window.symbol)
        .subquery("latest")
    )
    return (
        _records()
        .join(latest, and_(ScoreRow.ts == latest.c.ts, ScoreRow.symbol == latest.c.symbol))
        .where(ScoreRow.exchange == exchange)
    )


@functools.lru_cache(maxsize=32)
def _near_statement(terms: int, *, seek: bool) -> Select[Any]:
    """The rows of ``terms`` (exchange ``x<i>``, symbol ``s<i>``, ``a<i> <= ts <= b<i>``)
    windows, built once per count (building it costs as much as running it).

    With ``seek`` each window names its hours (``h<i>``): one seek of the (exchange, hour,
    symbol, ts) index per hour, as ``_score_at`` (SQLite looks each term of the OR up alone).
    """

    def window(i: int) -> ColumnElement[bool]:
        terms = [
            ScoreRow.exchange == bindparam(f"x{i}", type_=String()),
            ScoreRow.symbol == bindparam(f"s{i}", type_=String()),
            ScoreRow.ts <= bindparam(f"b{i}", type_=ScoreRow.ts.type),
            ScoreRow.ts >= bindparam(f"a{i}", type_=ScoreRow.ts.type),
        ]
        if seek:
            terms.insert(1, ScoreRow.hour.in_(bindparam(f"h{i}", expanding=True)))
        return and_(*terms)

    return _records().where(or_(*(window(i) for i in range(terms))))


@functools.lru_cache(maxsize=8)
def _ranges_statement(ranges: int) -> CompoundSelect[Any]:
    """The rows of ``:exchange`` with ``a<i> <= ts <= b<i>`` for each of ``ranges`` time
    ranges, built once per count.

    One range of the (exchange, ts, symbol) key per time, joined by ``UNION ALL``: an
    ``OR`` of ranges may tempt the planner into reading every row of the exchange.
    """
    exchange = bindparam("exchange", type_=String())
    return union_all(
        *(
            _records().where(
                ScoreRow.exchange == exchange,
                ScoreRow.ts >= bindparam(f"a{i}", type_=ScoreRow.ts.type),
                ScoreRow.ts <= bindparam(f"b{i}", type_=ScoreRow.ts.type),
            )
            for i in range(ranges)
        )
    )


_LATEST_ROWS = _latest_rows()
# The mark's two reads, built once with bound parameters (checked every few seconds).
_NEWEST = select(func.max(ScoreRow.ts)).where(ScoreRow.exchange == bindparam("exchange", type_=String()))
_RECENT = select(func.count()).where(
    ScoreRow.exchange == bindparam("exchange", type_=String()),
    ScoreRow.ts >= bindparam("start", type_=ScoreRow.ts.type),
    ScoreRow.ts <= bindparam("end", type_=ScoreRow.ts.type),
)
_SCORE, _SYMBOL, _EXCHANGE, _TS = (_POSITION[name] for name in ("score", "symbol", "exchange", "ts"))
_ts_of = itemgetter(_POSITION["ts"])


class SqlScoreStore:
    """``bot.ports.ScoreStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def latest_scores(
        self,
        exchange: str,
        *,
        since: datetime,
        bias: Bias | None = None,
        regimes: Collection[Regime] | None = None,
        limit: int | None = None,
    ) -> list[ScoreRecord]:
        # Filters apply to each symbol's latest row, never before picking it: that would
        # pick an older row that happened to match.
        stmt = _LATEST_ROWS
        if bias is not None:
            stmt = stmt.where(ScoreRow.bias == bias.value)
        if regimes is not None:
            stmt = stmt.where(ScoreRow.regime.in_([r.value for r in regimes]))
        with transaction(self._sessions, "read the latest scores") as session:
            rows = list(session.execute(stmt, {"exchange": exchange, "since": since}))
        rows.sort(key=lambda row: (-row[_SCORE], row[_SYMBOL]))
        return [_record_of(row) for row in rows[:limit]]

    def score_at_many(
        self,
        exchange: str,
        at: datetime,
        tolerance: timedelta,
        symbols: Collection[str] | None = None,
    ) -> dict[str, ScoreRecord]:
        with transaction(self._sessions, "read past scores") as session:
            times = newest_in_window(
                session, ScoreRow, exchange, start=at - tolerance, end=at, symbols=symbols
            )
            return {row.symbol: row_to_score(row) for row in rows_at(session, ScoreRow, exchange, times)}

    def score_card(self, exchange: str, symbol: str, *, tolerance: timedelta) -> ScoreCard | None:
        with transaction(self._sessions, "read a score card") as session:
            latest = newest_at_or_before(session, ScoreRow, _RECORD_COLUMNS, exchange, symbol)
            if latest is None:
                return None
            hour_ago = _score_at(session, exchange, symbol, latest.ts - HOUR, tolerance)
            day_ago = _score_at(session, exchange, symbol, latest.ts - DAY, tolerance)
        return ScoreCard(
            latest=_record_of(latest),
            hour_ago=None if hour_ago is None else _record_of(hour_ago),
            day_ago=None if day_ago is None else _record_of(day_ago),
        )

    def scores_at(self, wanted: Sequence[ScoreAt], tolerance: timedelta) -> list[ScoreRecord | None]:
        if not wanted:
            return []
        # One statement whatever the count: on the event loop's thread each statement lets a
        # cycle's worker thread take the interpreter for up to a switch interval.
        values: dict[str, Any] = {}
        seek = True
        for i, (exchange, symbol, at) in enumerate(wanted):
            hours = hours_between(at - tolerance, at)
            seek = seek and len(hours) <= MAX_SEEK_HOURS  # a tolerance of weeks: time ranges alone
            values |= {
                f"x{i}": exchange,
                f"s{i}": symbol,
                f"a{i}": at - tolerance,
                f"b{i}": at,
                f"h{i}": hours,
            }
        if not seek:
            values = {k: v for k, v in values.items() if not k.startswith("h")}
        with transaction(self._sessions, "read scores near given times") as session:
            rows = list(session.execute(_near_statement(len(wanted), seek=seek), values))
        found: list[ScoreRecord | None] = []
        for exchange, symbol, at in wanted:
            # The few rows of each window come back; the newest of each is picked here.
            row = max(
                (
                    r
                    for r in rows
                    if r[_SYMBOL] == symbol and r[_EXCHANGE] == exchange and at - tolerance <= r[_TS] <= at
                ),
                key=_ts_of,
                default=None,
            )
            found.append(None if row is None else _record_of(row))
        return found

    def past_scores(
        self,
        exchange: str,
        newest: Mapping[str, datetime],
        ago: Sequence[timedelta],
        tolerance: timedelta,
    ) -> dict[str, tuple[ScoreRecord | None, ...]]:
        if not newest or not ago:
            return {symbol: (None,) * len(ago) for symbol in newest}
        # Each offset's windows of every symbol lie in one time range (the symbols' newest
        # times differ by a cycle or two at most): one range of the key per offset, the
        # windows picked here from the rows' symbol and time before any record is built.
        first, last = min(newest.values()), max(newest.values())
        values: dict[str, Any] = {"exchange": exchange}
        for i, offset in enumerate(ago):
            values |= {f"a{i}": first - offset - tolerance, f"b{i}": last - offset}
        best: dict[tuple[str, int], Row[Any]] = {}
        with transaction(self._sessions, "read the scores before the newest") as session:
            for row in session.execute(_ranges_statement(len(ago)), values):
                symbol, ts = row[_SYMBOL], row[_TS]
                end = newest.get(symbol)
                if end is None:
                    continue
                for i, offset in enumerate(ago):
                    at = end - offset
                    if at - tolerance <= ts <= at:
                        kept = best.get((symbol, i))
                        if kept is None or kept[_TS] < ts:
                            best[(symbol, i)] = row
        return {
            symbol: tuple(
                None if (picked := best.get((symbol, i))) is None else _record_of(picked)
                for i in range(len(ago))
            )
            for symbol in newest
        }

    def score_history(self, exchange: str, symbol: str, start: datetime, end: datetime) -> list[ScoreRecord]:
        hours = hours_between(start, end)
        records: list[ScoreRecord] = []
        with transaction(self._sessions, "read score history") as session:
            # One seek per hour; a long history in several lists of bound hours.
            for chunk in chunked(hours, MAX_SEEK_HOURS):
                # No ORDER BY ts: the planner would take the (exchange, ts, symbol) key's
                # time range (every symbol's rows) to skip a sort of one symbol's.
                stmt = _records().where(
                    ScoreRow.exchange == exchange,
                    ScoreRow.hour.in_(chunk),
                    ScoreRow.symbol == symbol,
                    ScoreRow.ts >= start,
                    ScoreRow.ts <= end,
                )
                records.extend(_record_of(row) for row in session.execute(stmt))
        records.sort(key=attrgetter("ts"))
        return records

    def band_history(
        self,
        exchange: str,
        start: datetime,
        end: datetime,
        symbols: Collection[str] | None = None,
        *,
        every: timedelta,
        slot: timedelta,
    ) -> BandSeries:
        # Two narrow columns of one row per symbol and period, not whole rows of every
        # cycle: /track reads weeks of every symbol.
        bands, biases = {b.value: b for b in Band}, {b.value: b for b in Bias}
        with transaction(self._sessions, "read band history") as session:
            rows = first_in_slots(
                session,
                ScoreRow,
                (ScoreRow.band, ScoreRow.bias),
                exchange,
                start,
                end,
                every=every,
                slot=slot,
                symbols=symbols,
            )
        return {
            symbol: [(ts, bands[band], biases[bias]) for ts, band, bias in points]
            for symbol, points in rows.items()
        }

    def score_mark(self, exchange: str, window: timedelta) -> ScoreMark | None:
        with transaction(self._sessions, "read the newest score time") as session:
            end = session.scalar(_NEWEST, {"exchange": exchange})
            if end is None:
                return None
            # Both reads are ranges of the (exchange, ts, symbol) key; the window is a
            # collection or two of rows, not the history.
            recent = session.scalar(_RECENT, {"exchange": exchange, "start": end - window, "end": end})
            return ScoreMark(newest=end, recent=recent or 0)
