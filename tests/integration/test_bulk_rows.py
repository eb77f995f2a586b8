"""The cycle's plain-tuple writes store exactly what a Core statement of dictionaries stored."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, text

from bot.core.events import SymbolState
from bot.core.market import MarketSnapshot
from bot.core.records import ScoreRecord
from bot.errors import StorageError
from bot.storage.facade import Storage, open_storage
from bot.storage.models import AlertStateRow, ScoreRow, SnapshotRow, table_of
from bot.storage.repositories.scores import _ROW_COLUMNS, score_rows
from bot.storage.repositories.snapshots import snapshot_rows, snapshot_to_row
from tests.fakes.contract import reading, record, symbol_state
from tests.postgres import SQLITE_ONLY, NewDatabase

EX = "binanceusdm"
# Not UTC, with microseconds: both must be stored as the Core path stores them.
EAST = timezone(timedelta(hours=2))
TS = datetime(2026, 11, 19, 14, 5, 7, 123456, tzinfo=EAST)


def snapshots(symbol: str) -> list[MarketSnapshot]:
    full = MarketSnapshot(
        EX, symbol, TS, 1234.5, 98765.4321, 0.1 + 0.2, 1e-300, 3, -2.5e-5, 8, TS + timedelta(hours=3), 7e12
    )
    sparse = MarketSnapshot(
        EX, symbol, TS + timedelta(minutes=5), 1.0, None, None, None, None, None, None, None, None
    )
    return [full, sparse]


def score(symbol: str) -> ScoreRecord:
    base = record(symbol, TS)  # a missing horizon, an integer funding interval
    return replace(base, result=replace(base.result, partial=True))


def state(symbol: str) -> SymbolState:
    return symbol_state(symbol, replace(reading(ts=TS), oi_4h_pct=None))


def core_score_row(r: ScoreRecord) -> dict[str, Any]:
    """The dictionary the Core insert stored before the tuple path (column by name)."""
    res = r.result
    row: dict[str, Any] = {
        "exchange": r.exchange,
        "symbol": r.symbol,
        "ts": r.ts,
        "score": res.score,
        "band": res.band.value,
        "bias": res.bias.value,
        "regime": res.regime.value,
        "partial": res.partial,
    }
    row.update(_fields(r.inputs))
    row.update(_fields(res.components))
    return row


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


def core_state_row(s: SymbolState) -> dict[str, Any]:
    last = s.last
    return {
        "exchange": EX,
        "symbol": s.symbol,
        "confirmed_band": s.confirmed_band.value,
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


def stored(storage: Storage, table: str, symbol: str) -> list[tuple[Any, ...]]:
    """The rows as the database holds them: no SQLAlchemy type converts them on the way out
    (on SQLite each value with its storage class, so 8 and 8.0 differ)."""
    with storage.engine.connect() as conn:
        columns = [c.name for c in table_of_name(table).c if c.name not in ("id", "symbol")]
        values = ", ".join(f'"{c}"' for c in columns)
        if storage.engine.dialect.name == "sqlite":
            values += ", " + ", ".join(f'typeof("{c}")' for c in columns)
        # Test-only SQL over the schema's own names.
        sql = text(f"SELECT {values} FROM {table} WHERE symbol = :symbol ORDER BY ts")
        return [tuple(row) for row in conn.execute(sql, {"symbol": symbol})]


def table_of_name(name: str) -> Any:
    return {m.__tablename__: table_of(m) for m in (SnapshotRow, ScoreRow, AlertStateRow)}[name]


def test_the_cycles_rows_are_stored_as_the_core_statement_stored_them(storage: Storage) -> None:
    storage.cycles.save_cycle(
        exchange=EX, snapshots=snapshots("NEW"), scores=[score("NEW")], alert_states=[state("NEW")]
    )
    with storage.engine.begin() as conn:
        conn.execute(insert(table_of(SnapshotRow)), [snapshot_to_row(s) for s in snapshots("OLD")])
        conn.execute(insert(table_of(ScoreRow)), [core_score_row(score("OLD"))])
        conn.execute(insert(table_of(AlertStateRow)), [core_state_row(state("OLD"))])
    for table in ("market_snapshots", "scores", "alert_states"):
        new, old = stored(storage, table, "NEW"), stored(storage, table, "OLD")
        assert new, table
        assert new == old, table
    # And they read back as what was written.
    assert storage.alert_states.load_alert_states(EX)["NEW"] == state("NEW")
    (back,) = storage.scores.score_history(EX, "NEW", TS - timedelta(hours=1), TS + timedelta(hours=1))
    assert back == replace(score("NEW"), ts=TS.astimezone(UTC))


def test_an_updated_state_is_stored_as_a_new_one(storage: Storage) -> None:
    first, later = state("NEW"), symbol_state("NEW", reading(ts=TS + timedelta(minutes=5), score=80))
    storage.cycles.save_cycle(exchange=EX, alert_states=[first])
    storage.cycles.save_cycle(exchange=EX, alert_states=[later])
    storage.cycles.save_cycle(exchange=EX, alert_states=[replace(later, symbol="OTHER")])
    assert stored(storage, "alert_states", "NEW") == stored(storage, "alert_states", "OTHER")


# (A ScoreRecord refuses a naive time itself.)
@pytest.mark.parametrize("where", ["snapshots", "alert_states"])
def test_a_naive_time_in_the_tuple_path_stores_nothing(storage: Storage, where: str) -> None:
    naive = TS.replace(tzinfo=None)
    if where == "snapshots":
        cycle: dict[str, Any] = {"snapshots": [*snapshots("OK"), replace(snapshots("NEW")[0], ts=naive)]}
    else:
        cycle = {"snapshots": snapshots("OK"), "alert_states": [symbol_state("NEW", reading(ts=naive))]}
    with pytest.raises(StorageError, match="aware datetime"):
        storage.cycles.save_cycle(exchange=EX, **cycle)
    assert storage.snapshots.latest_snapshot_time(EX) is None


def test_rows_sharing_a_time_object_are_those_built_one_at_a_time(storage: Storage) -> None:
    # score_rows and snapshot_rows bind a time once while the rows share its object: runs of
    # one object, an equal time in another zone, and a later time must each come out as
    # the row built alone.
    other_zone = TS.astimezone(UTC)
    later = TS + timedelta(minutes=5)
    times = [TS, TS, other_zone, other_zone, TS, later, later, TS]
    scores = [replace(score(f"S{i}"), ts=ts) for i, ts in enumerate(times)]
    snaps = [replace(snapshots(f"S{i}")[0], ts=ts) for i, ts in enumerate(times)]
    dialect = storage.engine.dialect
    alone_scores = [score_rows([s], dialect) for s in scores]
    assert score_rows(scores, dialect) == (
        [k for keys, _ in alone_scores for k in keys],
        [r for _, rows in alone_scores for r in rows],
    )
    alone_snaps = [snapshot_rows([s], dialect) for s in snaps]
    assert snapshot_rows(snaps, dialect) == (
        [k for keys, _ in alone_snaps for k in keys],
        [r for _, rows in alone_snaps for r in rows],
    )


def test_a_score_rows_bools_are_what_the_driver_binds_directly(storage: Storage) -> None:
    # SQLite's driver sends a bool through its adaptation protocol (~0.5 µs a value, two a
    # score); PostgreSQL's refuses an int for a boolean column. The stored values are the
    # same either way (the test above).
    dialect = storage.engine.dialect
    _, (row,) = score_rows([score("S")], dialect)
    flags = [row[_ROW_COLUMNS.index(name)] for name in ("partial", "accepted")]
    expected = int if dialect.name == "sqlite" else bool
    assert [type(flag) for flag in flags] == [expected, expected]
    assert flags == [True, False]


@SQLITE_ONLY
def test_rows_given_in_any_order_are_stored_as_compactly_as_in_key_order(new_database: NewDatabase) -> None:
    # A cycle hands its scores over highest first: random in the key (exchange, time,
    # symbol). Stored in that order, rows split pages mid-way and leave them part empty.
    rng = random.Random(3)
    names = [f"S{i:04d}USDT" for i in range(3_000)]
    pages = []
    for shuffled in (False, True):
        storage = open_storage(new_database(f"{shuffled}.sqlite3"))
        try:
            for step in range(3):
                ts = TS + timedelta(minutes=5 * step)
                order = rng.sample(names, len(names)) if shuffled else names
                storage.cycles.save_cycle(
                    exchange=EX,
                    snapshots=[snapshots(symbol)[0] for symbol in order] if step == 0 else (),
                    scores=[replace(score(symbol), ts=ts) for symbol in order],
                )
            with storage.engine.connect() as connection:
                pages.append(connection.exec_driver_sql("PRAGMA page_count").scalar())
        finally:
            storage.close()
    in_order, any_order = pages
    assert any_order == in_order
