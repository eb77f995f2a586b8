"""Query plans of the time-series reads: per-symbol reads seek the (exchange, hour, symbol,
ts) index, whole-market reads search the (exchange, ts, symbol) key; none scans a table.

Every SELECT (and retention's DELETE) a store call sends is captured and explained on the
same database with the same parameters. On SQLite the plan does not depend on the data
(no statistics are gathered), so a few rows show the plan of a large database. On
PostgreSQL the plan follows the tables' statistics, and on a few rows the planner picks
whichever index, with the other conditions as filters: there only the absence of table
scans is checked (sequential scans disabled for the EXPLAIN), not which index seeks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot.core.records import RetentionPolicy
from bot.storage.facade import Storage
from tests.fakes.contract import EX, record, snapshot

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
END = T0 + 35 * STEP
SYMBOLS = [f"S{i:03d}USDT" for i in range(60)]
FEW, MANY = SYMBOLS[:3], SYMBOLS
# The longest lists a read seeks by (IN_CHUNK symbols, weeks of hours): the plan must not
# change to the key's time range as the lists grow.
LONGEST = [f"L{i:03d}USDT" for i in range(500)]
WEEKS = (END - timedelta(days=14), END)
HOUR_INDEXES = ("ix_market_snapshots_exchange_hour_symbol_ts", "ix_scores_exchange_hour_symbol_ts")
TABLES = ("market_snapshots", "scores")


@dataclass
class Captured:
    statement: str
    parameters: Any


@contextmanager
def captured(storage: Storage) -> Iterator[list[Captured]]:
    """The statements that read (or purge) the time-series tables while the block runs."""
    seen: list[Captured] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        touches = any(re.search(rf"\b{table}\b", statement) for table in TABLES)
        if touches and not many and statement.lstrip().upper().startswith(("SELECT", "WITH", "DELETE")):
            seen.append(Captured(statement, parameters))

    event.listen(storage.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(storage.engine, "before_cursor_execute", before)


def plans(storage: Storage, statements: list[Captured]) -> list[str]:
    """Each statement's plan as one text."""
    found = []
    with storage.engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if not sqlite:
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for item in statements:
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + item.statement, item.parameters).all()
            found.append("\n".join(str(row[-1]) for row in rows))
        conn.rollback()
    return found


def fill(storage: Storage) -> None:
    """Three hours of 5-minute snapshots and scores of 60 symbols."""
    times = [T0 + i * STEP for i in range(36)]
    storage.snapshots.add_snapshots([snapshot(s, ts) for ts in times for s in SYMBOLS])
    storage.cycles.save_cycle(exchange=EX, scores=[record(s, ts) for ts in times for s in SYMBOLS])


SPAN = (T0, END)
SAMPLING = {"every": timedelta(minutes=30), "slot": timedelta(minutes=10)}

PER_SYMBOL: dict[str, Callable[[Storage], object]] = {
    "market_history": lambda s: s.snapshots.market_history(EX, *SPAN, FEW),
    "oi_at_many": lambda s: s.snapshots.oi_at_many(EX, END, timedelta(hours=2), FEW),
    "mark_samples few": lambda s: s.snapshots.mark_samples(EX, *SPAN, FEW, **SAMPLING),
    "mark_samples many": lambda s: s.snapshots.mark_samples(EX, *SPAN, MANY, **SAMPLING),
    "score_card": lambda s: s.scores.score_card(EX, FEW[0], tolerance=timedelta(minutes=10)),
    "score_card unknown": lambda s: s.scores.score_card(EX, "NOPEUSDT", tolerance=timedelta(minutes=10)),
    "score_history": lambda s: s.scores.score_history(EX, FEW[0], *SPAN),
    "scores_at": lambda s: s.scores.scores_at(
        [(EX, FEW[0], END - timedelta(hours=1)), (EX, FEW[0], END - timedelta(hours=24)), (EX, FEW[1], END)],
        timedelta(minutes=10),
    ),
    "score_at_many": lambda s: s.scores.score_at_many(EX, END, timedelta(hours=2), FEW),
    "band_history few": lambda s: s.scores.band_history(EX, *SPAN, FEW, **SAMPLING),
    "band_history many": lambda s: s.scores.band_history(EX, *SPAN, MANY, **SAMPLING),
    "market_history longest": lambda s: s.snapshots.market_history(
        EX, END - timedelta(hours=24), END, LONGEST
    ),
    "oi_at_many longest": lambda s: s.snapshots.oi_at_many(EX, END, timedelta(hours=24), LONGEST),
    "score_history weeks": lambda s: s.scores.score_history(EX, FEW[0], *WEEKS),
    "score_at_many longest": lambda s: s.scores.score_at_many(EX, END, timedelta(hours=24), LONGEST),
    "band_history weeks": lambda s: s.scores.band_history(EX, *WEEKS, LONGEST, **SAMPLING),
}
WHOLE_MARKET: dict[str, Callable[[Storage], object]] = {
    "market_history": lambda s: s.snapshots.market_history(EX, *SPAN),
    "oi_at_many": lambda s: s.snapshots.oi_at_many(EX, END, timedelta(hours=2)),
    "mark_samples": lambda s: s.snapshots.mark_samples(EX, *SPAN, **SAMPLING),
    "latest_scores": lambda s: s.scores.latest_scores(EX, since=END - timedelta(minutes=10)),
    "latest_scores short": lambda s: s.scores.latest_scores(EX, since=T0, limit=5),
    "score_at_many": lambda s: s.scores.score_at_many(EX, END, timedelta(hours=2)),
    "band_history": lambda s: s.scores.band_history(EX, *SPAN, **SAMPLING),
    "score_mark": lambda s: s.scores.score_mark(EX, timedelta(minutes=10)),
    "past_scores": lambda s: s.scores.past_scores(
        EX, dict.fromkeys(MANY, END), (timedelta(hours=1), timedelta(hours=2)), timedelta(minutes=10)
    ),
    "retention": lambda s: s.retention.purge(RetentionPolicy(), T0 + timedelta(days=30)),
    "latest_snapshot_time": lambda s: s.snapshots.latest_snapshot_time(EX),
    "latest_snapshots": lambda s: s.snapshots.latest_snapshots(EX, END - timedelta(minutes=10)),
    "latest_snapshots few": lambda s: s.snapshots.latest_snapshots(EX, END - timedelta(minutes=10), FEW),
}


def table_scans(plan: str, sqlite: bool) -> list[str]:
    """Plan lines that read a whole time-series table (or an index of it, start to end)."""
    if sqlite:
        # "SCAN scores", "SCAN scores_1 USING COVERING INDEX ..."; not "SCAN slots" etc.
        pattern = r"^SCAN (market_snapshots|scores)(_\d+)?\b"
    else:
        pattern = r"Seq Scan on (market_snapshots|scores)\b"
    return [line for line in plan.splitlines() if re.search(pattern, line.strip())]


@pytest.mark.parametrize("name", sorted(PER_SYMBOL))
def test_per_symbol_reads_seek_the_hour_index(storage: Storage, backend: str, name: str) -> None:
    fill(storage)
    with captured(storage) as statements:
        PER_SYMBOL[name](storage)
    assert statements, "the read sent no statement to the time-series tables"
    sqlite = backend == "sqlite"
    explained = plans(storage, statements)
    for plan in explained:
        assert table_scans(plan, sqlite) == [], plan
    if not sqlite:
        return  # see the module's docstring
    # Every statement that names hours seeks by them (not a time range with filters).
    named = [re.search(r"\bhour (IN|=)", item.statement) for item in statements]
    hour_reads = [plan for plan, names in zip(explained, named, strict=True) if names]
    assert hour_reads, "\n---\n".join(explained)
    for plan in hour_reads:
        # A seek: the hour and the symbol are both constraints of the search.
        seek = r"SEARCH \w+ USING (COVERING )?INDEX ix_\w+_hour_symbol_ts "
        seek += r"\(exchange=\? AND hour=\? AND symbol=\?"
        assert re.search(seek, plan), plan


@pytest.mark.parametrize("name", sorted(WHOLE_MARKET))
def test_whole_market_reads_search_the_time_key(storage: Storage, backend: str, name: str) -> None:
    fill(storage)
    with captured(storage) as statements:
        WHOLE_MARKET[name](storage)
    assert statements, "the read sent no statement to the time-series tables"
    for plan in plans(storage, statements):
        assert table_scans(plan, backend == "sqlite") == [], plan


@pytest.mark.parametrize("name", ["band_history", "mark_samples"])
def test_whole_market_samples_are_a_time_key_range_per_slot(
    storage: Storage, backend: str, name: str
) -> None:
    # One statement a slot (not a derived table of slots joined on the time range, which
    # SQLite grouped through one temporary B-tree): the slot's first time per symbol from
    # a range of the (exchange, ts, symbol) key, then those rows by that key.
    fill(storage)
    with captured(storage) as statements:
        WHOLE_MARKET[name](storage)
    assert len(statements) == 6  # T0 .. END every 30 minutes: 10:00 .. 12:30
    if backend != "sqlite":
        return  # see the module's docstring
    for plan in plans(storage, statements):
        # The key is the table (WITHOUT ROWID): its primary key, searched for the range, then
        # seeked for each row.
        assert re.search(r"USING PRIMARY KEY \(exchange=\? AND ts>\? AND ts<\?\)", plan), plan
        assert re.search(r"USING PRIMARY KEY \(exchange=\? AND ts=\? AND symbol=\?\)", plan), plan
