"""Per-symbol alert state of the diff engine, with its per-kind alert marks."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.core.models import Band, Bias, Regime
from bot.core.records import AlertMark, AlertState, EventKind
from bot.storage.db import transaction
from bot.storage.models import AlertMarkRow, AlertStateRow
from bot.storage.repositories._common import chunked


def _state_row(state: AlertState) -> dict[str, Any]:
    return {
        "exchange": state.exchange,
        "symbol": state.symbol,
        "ts": state.ts,
        "score": state.score,
        "band": state.band.value,
        "bias": state.bias.value,
        "regime": state.regime.value,
    }


def _mark_rows(state: AlertState) -> list[dict[str, Any]]:
    return [
        {
            "exchange": state.exchange,
            "symbol": state.symbol,
            "kind": mark.kind.value,
            "at": mark.at,
            "band": mark.band.value,
            "regime": mark.regime.value,
        }
        for mark in state.marks
    ]


def upsert_alert_states(session: Session, states: Sequence[AlertState]) -> int:
    """Insert or replace states and their marks; returns how many states were written.

    Portable upsert: find which keys exist, bulk-UPDATE those by primary key and bulk-INSERT
    the rest, inside the caller's transaction. Marks are replaced wholesale (delete, then
    insert), so a mark dropped from the state disappears.
    """
    latest: dict[tuple[str, str], AlertState] = {(s.exchange, s.symbol): s for s in states}
    by_exchange: dict[str, list[str]] = defaultdict(list)
    for exchange, symbol in latest:
        by_exchange[exchange].append(symbol)
    existing: set[tuple[str, str]] = set()
    for exchange, symbols in by_exchange.items():
        for chunk in chunked(symbols):
            stmt = select(AlertStateRow.symbol).where(
                AlertStateRow.exchange == exchange, AlertStateRow.symbol.in_(chunk)
            )
            existing.update((exchange, symbol) for symbol in session.scalars(stmt))
            session.execute(
                delete(AlertMarkRow).where(AlertMarkRow.exchange == exchange, AlertMarkRow.symbol.in_(chunk))
            )
    updates = [_state_row(s) for key, s in latest.items() if key in existing]
    inserts = [_state_row(s) for key, s in latest.items() if key not in existing]
    marks = [row for s in latest.values() for row in _mark_rows(s)]
    if updates:
        session.execute(update(AlertStateRow), updates)
    if inserts:
        session.execute(insert(AlertStateRow), inserts)
    if marks:
        session.execute(insert(AlertMarkRow), marks)
    return len(latest)


class SqlAlertStateStore:
    """``bot.ports.AlertStateStore`` on SQLAlchemy."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def load_alert_states(self, exchange: str) -> dict[str, AlertState]:
        with transaction(self._sessions, "read alert states") as session:
            state_rows = session.scalars(
                select(AlertStateRow).where(AlertStateRow.exchange == exchange)
            ).all()
            mark_rows = session.scalars(select(AlertMarkRow).where(AlertMarkRow.exchange == exchange)).all()
        marks: dict[str, list[AlertMark]] = defaultdict(list)
        for m in mark_rows:
            marks[m.symbol].append(
                AlertMark(kind=EventKind(m.kind), at=m.at, band=Band(m.band), regime=Regime(m.regime))
            )
        return {
            row.symbol: AlertState(
                exchange=row.exchange,
                symbol=row.symbol,
                ts=row.ts,
                score=row.score,
                band=Band(row.band),
                bias=Bias(row.bias),
                regime=Regime(row.regime),
                marks=tuple(marks[row.symbol]),
            )
            for row in state_rows
        }

    def save_alert_states(self, states: Sequence[AlertState]) -> None:
        with transaction(self._sessions, "store alert states") as session:
            upsert_alert_states(session, states)
