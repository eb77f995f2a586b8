"""Per-symbol state of the diff engine (``SymbolState``), with its remembered alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from bot.core.events import EventKind, LastAlert, Reading, SymbolState
from bot.core.models import Band, Bias, Regime
from bot.core.regimes import REGIME_LABELS
from bot.storage.db import transaction, write_transaction
from bot.storage.models import AlertMarkRow, AlertStateRow, ScoreRow, hour_of, table_of
from bot.storage.repositories._common import IN_CHUNK, chunked
from bot.storage.repositories.bulk import binder, execute_rows, upsert_clause

_STATE_COLUMNS = (
    "exchange",
    "symbol",
    "confirmed_band",
    "ts",
    "score",
    "band",
    "bias",
    "regime",
    "label",
    "oi_1h_pct",
    "oi_4h_pct",
    "oi_24h_pct",
    "funding_8h_pct",
    "basis_pct",
)
_KEY = ("exchange", "symbol")
_MARK_KEYS = ("kind", "position", "at", "severity", "open")


def _state_values(exchange: str, state: SymbolState, ts: Any) -> tuple[Any, ...]:
    """A state's column values in ``_STATE_COLUMNS`` order, ``ts`` as given (bound)."""
    last = state.last  # ``_value_``: as in ``scores._score_values``
    return (
        exchange,
        state.symbol,
        state.confirmed_band._value_,
        ts,
        last.score,
        last.band._value_,
        last.bias._value_,
        last.regime._value_,
        last.label,
        last.oi_1h_pct,
        last.oi_4h_pct,
        last.oi_24h_pct,
        last.funding_8h_pct,
        last.basis_pct,
    )


def _state_rows(dialect: Dialect, exchange: str, states: Iterable[SymbolState]) -> list[tuple[Any, ...]]:
    """The states' rows with their times bound for ``dialect`` (``bulk.binder``).

    Bound here, once per time object (a cycle's readings share one), rather than by
    ``execute_rows``: with no column left to convert it hands the rows to the driver as
    they are, instead of transposing 5,000 rows to convert one column and back.
    """
    bind_ts = binder(dialect, table_of(AlertStateRow), "ts")
    rows = []
    last: Any = None
    bound: Any = None
    for s in states:
        ts = s.last.ts
        if ts is not last:
            last, bound = ts, bind_ts(ts)
        rows.append(_state_values(exchange, s, bound))
    return rows


def _mark_values(state: SymbolState) -> list[tuple[Any, ...]]:
    """A state's alerts as ``_mark_rows`` stores them, as ``_MARK_KEYS`` tuples."""
    return [
        (alert.kind.value, position, alert.at, alert.severity, alert.open)
        for position, alert in enumerate(state.alerts)
    ]


def _mark_rows(exchange: str, state: SymbolState) -> list[dict[str, Any]]:
    return [
        {
            "exchange": exchange,
            "symbol": state.symbol,
            "kind": alert.kind.value,
            "position": position,
            "at": alert.at,
            "severity": alert.severity,
            "open": alert.open,
        }
        for position, alert in enumerate(state.alerts)
    ]


_READING_COLUMNS = (
    ScoreRow.symbol,
    ScoreRow.ts,
    ScoreRow.score,
    ScoreRow.band,
    ScoreRow.bias,
    ScoreRow.regime,
    ScoreRow.oi_1h_pct,
    ScoreRow.oi_4h_pct,
    ScoreRow.oi_24h_pct,
    ScoreRow.funding_8h_pct,
    ScoreRow.basis_pct,
)


def _accepted_readings(session: Session, exchange: str, stored: Mapping[str, datetime]) -> dict[str, Reading]:
    """Per symbol, the newest accepted score newer than its ``stored`` reading's time and in
    the same hour, as a reading (``load_alert_states`` says why that is the state's ``last``).

    One statement per distinct hour of the stored readings, a seek of the (exchange, hour,
    symbol, ts) index: a running market's states share one or two hours; a symbol that
    stopped trading keeps an old hour, read for its own symbols only.
    """
    by_hour: dict[int, dict[str, datetime]] = defaultdict(dict)
    for symbol, ts in stored.items():
        by_hour[hour_of(ts)][symbol] = ts
    best: dict[str, Any] = {}  # symbol → its newest row so far
    for hour, times in by_hour.items():
        where = [ScoreRow.exchange == exchange, ScoreRow.hour == hour, ScoreRow.accepted.is_(True)]
        if len(times) <= IN_CHUNK:
            where.append(ScoreRow.symbol.in_(list(times)))
        else:  # most of a market: the hour's rows past the oldest stored reading
            where.append(ScoreRow.ts > min(times.values()))
        for row in session.execute(select(*_READING_COLUMNS).where(*where)):
            symbol, ts = row[0], row[1]
            since = times.get(symbol)
            if since is not None and ts > since and (symbol not in best or ts > best[symbol][1]):
                best[symbol] = row
    return {symbol: _reading_of_score(row) for symbol, row in best.items()}


def _reading_of_score(row: Sequence[Any]) -> Reading:
    """A score row of ``_READING_COLUMNS`` as the reading the cycle built of that score."""
    _, ts, score, band, bias, regime_code, oi_1h, oi_4h, oi_24h, funding_8h, basis = row
    regime = Regime(regime_code)
    return Reading(
        ts=ts,
        score=score,
        band=Band(band),
        bias=Bias(bias),
        regime=regime,
        label=REGIME_LABELS[regime],
        oi_1h_pct=oi_1h,
        oi_4h_pct=oi_4h,
        oi_24h_pct=oi_24h,
        funding_8h_pct=funding_8h,
        basis_pct=basis,
    )


def _state(row: AlertStateRow, alerts: Sequence[LastAlert], newer: Reading | None = None) -> SymbolState:
    return SymbolState(
        symbol=row.symbol,
        confirmed_band=Band(row.confirmed_band),
        last=newer
        if newer is not None
        else Reading(
            ts=row.ts,
            score=row.score,
            band=Band(row.band),
            bias=Bias(row.bias),
            regime=Regime(row.regime),
            label=row.label,
            oi_1h_pct=row.oi_1h_pct,
            oi_4h_pct=row.oi_4h_pct,
            oi_24h_pct=row.oi_24h_pct,
            funding_8h_pct=row.funding_8h_pct,
            basis_pct=row.basis_pct,
        ),
        alerts=tuple(alerts),
    )


def upsert_alert_states(session: Session, exchange: str, states: Sequence[SymbolState]) -> int:
    """Insert or replace ``exchange``'s states and their alerts; returns how many states were written.

    One executemany of an upsert on the primary key (``bulk.upsert_clause``) inside the
    caller's transaction: no read of which keys exist. A state's alerts are replaced
    wholesale (delete, then insert) when they differ from the stored ones, so an alert
    dropped from the state disappears; most cycles change a reading but no alert, and
    write no alert row. Two alerts of one kind in a state break the primary key of
    ``alert_marks``, failing the transaction.
    """
    latest: dict[str, SymbolState] = {s.symbol: s for s in states}  # the last of duplicates wins
    if not latest:
        return 0
    conn = session.connection()
    state_table, mark_table = table_of(AlertStateRow), table_of(AlertMarkRow)
    stored_marks = _stored_marks(conn, exchange, list(latest))
    # Compared as ``_MARK_KEYS`` tuples; the rows to insert are built for the replaced only
    # (most states of a cycle keep their alerts, and a symbol with none stored or held
    # needs no comparison).
    replaced = [
        symbol
        for symbol, s in latest.items()
        if (s.alerts or symbol in stored_marks) and _mark_values(s) != stored_marks.get(symbol, [])
    ]
    execute_rows(
        conn,
        state_table,
        _STATE_COLUMNS,
        _state_rows(conn.dialect, exchange, latest.values()),
        suffix=upsert_clause(conn.dialect, _KEY, _STATE_COLUMNS),
        prebound=("ts",),
        key=_KEY,
    )
    for chunk in chunked(replaced):
        conn.execute(
            delete(mark_table).where(mark_table.c.exchange == exchange, mark_table.c.symbol.in_(chunk))
        )
    marks = [row for symbol in replaced for row in _mark_rows(exchange, latest[symbol])]
    if marks:
        conn.execute(insert(mark_table), marks)
    return len(latest)


def _stored_marks(conn: Connection, exchange: str, symbols: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """The stored alerts of ``symbols``, by symbol, in position order, as ``_MARK_KEYS`` tuples."""
    mark_table = table_of(AlertMarkRow)
    columns = (mark_table.c.symbol, *(mark_table.c[k] for k in _MARK_KEYS))
    order = (mark_table.c.symbol, mark_table.c.position)
    # Few symbols: look them up. A whole market: read the exchange's alerts at once, one
    # query instead of one per IN chunk (only symbols that alerted have any).
    if len(symbols) <= IN_CHUNK:
        stmts = [
            select(*columns)
            .where(mark_table.c.exchange == exchange, mark_table.c.symbol.in_(symbols))
            .order_by(*order)
        ]
    else:
        stmts = [select(*columns).where(mark_table.c.exchange == exchange).order_by(*order)]
    wanted = set(symbols)
    found: dict[str, list[tuple[Any, ...]]] = {}
    for stmt in stmts:
        for stored in conn.execute(stmt):
            if stored[0] in wanted:
                found.setdefault(stored[0], []).append(tuple(stored[1:]))
    return found


class SqlAlertStateStore:
    """``bot.ports.AlertStateStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def load_alert_states(self, exchange: str) -> dict[str, SymbolState]:
        """Every state of ``exchange``, its ``last`` the newest reading the cycle accepted.

        A cycle stores a state only when it changed materially (``bot.core.diff.
        material_changes``): when its band or alerts changed, or its reading is of another
        UTC hour than the stored one. Otherwise only the cycle's score row, marked
        ``accepted``, holds the new reading. So between two writes of a symbol's state every
        accepted reading lies in the stored ``last``'s hour, and the newest accepted score of
        that hour newer than the stored ``last`` is the reading the cycle held; none found,
        the stored one is. ``last`` is built from that score as ``bot.app.cycle.reading_of``
        built it (the label from the regime), so a restart or a lease takeover goes on
        from exactly the states the last stored cycle held in memory.
        """
        return self._load(exchange)

    def load_alert_state(self, exchange: str, symbol: str) -> SymbolState | None:
        """``load_alert_states(exchange).get(symbol)``, reading that symbol's rows only."""
        return self._load(exchange, symbol).get(symbol)

    def _load(self, exchange: str, symbol: str | None = None) -> dict[str, SymbolState]:
        """The states of ``exchange`` (of ``symbol`` alone, when given) as the loads give them."""
        states = select(AlertStateRow).where(AlertStateRow.exchange == exchange)
        marks = select(AlertMarkRow).where(AlertMarkRow.exchange == exchange)
        if symbol is not None:
            states = states.where(AlertStateRow.symbol == symbol)
            marks = marks.where(AlertMarkRow.symbol == symbol)
        with transaction(self._sessions, "read alert states") as session:
            state_rows = session.scalars(states).all()
            mark_rows = session.scalars(marks.order_by(AlertMarkRow.symbol, AlertMarkRow.position)).all()
            newer = _accepted_readings(session, exchange, {row.symbol: row.ts for row in state_rows})
        alerts: dict[str, list[LastAlert]] = defaultdict(list)
        for m in mark_rows:
            alerts[m.symbol].append(
                LastAlert(kind=EventKind(m.kind), at=m.at, severity=m.severity, open=m.open)
            )
        return {row.symbol: _state(row, alerts[row.symbol], newer.get(row.symbol)) for row in state_rows}

    def save_alert_states(self, exchange: str, states: Sequence[SymbolState]) -> None:
        with write_transaction(self._sessions, "store alert states") as session:
            upsert_alert_states(session, exchange, states)
