"""Per-symbol state of the diff engine (``SymbolState``), with its remembered alerts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.events import EventKind, LastAlert, Reading, SymbolState
from bot.core.models import Band, Bias, Regime
from bot.storage.db import transaction
from bot.storage.models import AlertMarkRow, AlertStateRow, table_of
from bot.storage.repositories._common import chunked


def _state_row(exchange: str, state: SymbolState) -> dict[str, Any]:
    last = state.last
    return {
        "exchange": exchange,
        "symbol": state.symbol,
        "confirmed_band": state.confirmed_band.value,
        "ts": last.ts,
        "score": last.score,
        "band": last.band.value,
        "bias": last.bias.value,
        "regime": last.regime.value,
        "label": last.label,
        "oi_1h_pct": last.oi_1h_pct,
        "oi_4h_pct": last.oi_4h_pct,
        "oi_24h_pct": last.oi_24h_pct,
        "funding_8h_pct": last.funding_8h_pct,
        "basis_pct": last.basis_pct,
    }


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


def _state(row: AlertStateRow, alerts: Sequence[LastAlert]) -> SymbolState:
    return SymbolState(
        symbol=row.symbol,
        confirmed_band=Band(row.confirmed_band),
        last=Reading(
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

    Portable upsert: find which keys exist, bulk-UPDATE those by primary key and bulk-INSERT
    the rest, inside the caller's transaction. A state's alerts are replaced wholesale
    (delete, then insert) when they differ from the stored ones, so an alert dropped from
    the state disappears; most cycles change a reading but no alert, and write no alert
    row. Two alerts of one kind in a state break the primary key of ``alert_marks``,
    failing the transaction.
    """
    latest: dict[str, SymbolState] = {s.symbol: s for s in states}  # the last of duplicates wins
    # Core statements of the tables, each an executemany of plain dicts: a cycle writes
    # thousands of states, and the ORM's bulk paths cost several times more per row.
    conn = session.connection()
    state_table, mark_table = table_of(AlertStateRow), table_of(AlertMarkRow)
    mark_keys = ("kind", "position", "at", "severity", "open")
    existing: set[str] = set()
    stored_marks: dict[str, list[tuple[Any, ...]]] = {}
    for chunk in chunked(list(latest)):
        stmt = select(state_table.c.symbol).where(
            state_table.c.exchange == exchange, state_table.c.symbol.in_(chunk)
        )
        existing.update(conn.execute(stmt).scalars())
        marks_stmt = (
            select(mark_table.c.symbol, *(mark_table.c[k] for k in mark_keys))
            .where(mark_table.c.exchange == exchange, mark_table.c.symbol.in_(chunk))
            .order_by(mark_table.c.symbol, mark_table.c.position)
        )
        for stored in conn.execute(marks_stmt):
            stored_marks.setdefault(stored[0], []).append(tuple(stored[1:]))
    new_marks = {symbol: _mark_rows(exchange, s) for symbol, s in latest.items()}
    replaced = [
        symbol
        for symbol, rows in new_marks.items()
        if [tuple(row[k] for k in mark_keys) for row in rows] != stored_marks.get(symbol, [])
    ]
    updates = [_state_row(exchange, s) for symbol, s in latest.items() if symbol in existing]
    inserts = [_state_row(exchange, s) for symbol, s in latest.items() if symbol not in existing]
    marks = [row for symbol in replaced for row in new_marks[symbol]]
    if updates:
        for row in updates:  # the key is matched by renamed parameters, the rest is SET
            row["key_exchange"], row["key_symbol"] = row.pop("exchange"), row.pop("symbol")
        by_key = update(state_table).where(
            state_table.c.exchange == bindparam("key_exchange"),
            state_table.c.symbol == bindparam("key_symbol"),
        )
        conn.execute(by_key, updates)
    if inserts:
        conn.execute(insert(state_table), inserts)
    for chunk in chunked(replaced):
        conn.execute(
            delete(mark_table).where(mark_table.c.exchange == exchange, mark_table.c.symbol.in_(chunk))
        )
    if marks:
        conn.execute(insert(mark_table), marks)
    return len(latest)


class SqlAlertStateStore:
    """``bot.ports.AlertStateStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def load_alert_states(self, exchange: str) -> dict[str, SymbolState]:
        with transaction(self._sessions, "read alert states") as session:
            state_rows = session.scalars(
                select(AlertStateRow).where(AlertStateRow.exchange == exchange)
            ).all()
            mark_rows = session.scalars(
                select(AlertMarkRow)
                .where(AlertMarkRow.exchange == exchange)
                .order_by(AlertMarkRow.symbol, AlertMarkRow.position)
            ).all()
        alerts: dict[str, list[LastAlert]] = defaultdict(list)
        for m in mark_rows:
            alerts[m.symbol].append(
                LastAlert(kind=EventKind(m.kind), at=m.at, severity=m.severity, open=m.open)
            )
        return {row.symbol: _state(row, alerts[row.symbol]) for row in state_rows}

    def save_alert_states(self, exchange: str, states: Sequence[SymbolState]) -> None:
        with transaction(self._sessions, "store alert states") as session:
            upsert_alert_states(session, exchange, states)
