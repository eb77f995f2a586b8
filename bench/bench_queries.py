"""Targets: one 5,000-symbol cycle scored, diffed and stored in under 0.5 s; ``/top`` and
``/score`` answered from 30 days of 5-minute history for 500 symbols in under 50 ms at p99.

Both parts run on a real SQLite file in a temporary directory, migrated by Alembic through
``bot.storage.facade.open_storage`` (WAL, ``synchronous=NORMAL``, as the bot runs it).

Part 1, the cycle. 5,000 symbols whose inputs follow a random walk (AR(1) OI changes,
persistent funding and basis, about 1 % of symbols missing a horizon, so partial). The
database first holds ``--cycle-history-hours`` of history for those symbols (snapshots and
scores, loaded in bulk) and the alert states of one stored cycle; two more cycles warm it
up. Each timed cycle then does what ``bot.app.cycle.CollectionCycle.run`` does after the
fetch: ``score()`` of every symbol, ``diff()`` against the previous cycle's states (kept
in memory, as this target excludes the state read), the changed states, and
``CycleStore.save_cycle`` of the 5,000 snapshots, 5,000 scores and changed states in one
transaction (no outbox). Two baselines do the same score + diff and store the same rows
differently:
(a) the naive ORM way, one transaction too: ``session.add`` of one ORM object per snapshot
and score, ``session.merge`` of one per alert state (with a DELETE and re-add of its
remembered alerts), one flush and commit: what the repositories' Core executemany buys;
(b), with ``--row-baseline`` only (it takes a minute and a half): one cycle stored one row
per transaction through the same repositories (``add_snapshots([s])``, ``save_cycle(scores=[r])``,
``save_alert_states(ex, [state])``): what the unit of work buys. It cannot be timed on a
slice and scaled, as each single-row insert's duplicate check reads every row already
stored at that time, so its cost grows with the square of the symbols.

Part 2, the read models. ``--days`` (default 30) of 5-minute scores for 500 symbols are
loaded through ``CycleStore.save_cycle`` one day (144,000 rows) per call; the values come
from a pool of 20,000 scored random inputs (``score()`` of 4.3M inputs would only slow the
load, and the queries do not depend on the values beyond the bias mix). Loading stops at
``--load-budget`` seconds and the queries run on what was loaded (said in the output). Then
``ScoreStore.latest_scores`` (``/top``: the newest 15 minutes, limit 50, with and without a
bias filter) and ``ScoreStore.score_card`` (``/score``: a random symbol, tolerance 15 min)
are each called ``--queries`` times, in alternating blocks with the garbage collector as is
and after ``gc.freeze()``. The baselines, fewer calls, are naive versions of the same reads:
``/top`` as the newest row per symbol by ``max(ts) ... GROUP BY symbol`` over the whole
table with no time window, and ``/score`` as the symbol's last 24 h + tolerance of rows read
and picked from in Python.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import Session

from bench.common import median, p, write_section
from bot.core.diff import DiffParams, diff
from bot.core.events import Reading, ScoredPoint, SymbolState
from bot.core.market import MarketSnapshot
from bot.core.models import Bias, ScoreInputs, ScoreResult
from bot.core.records import ScoreCard, ScoreRecord
from bot.core.scoring import score
from bot.storage.db import session_factory, transaction
from bot.storage.facade import Storage, open_storage
from bot.storage.models import AlertMarkRow, AlertStateRow, ScoreRow, SnapshotRow
from bot.storage.repositories.alert_states import _mark_rows, _state_row
from bot.storage.repositories.scores import row_to_score, score_to_row
from bot.storage.repositories.snapshots import snapshot_to_row

EX = "binanceusdm"
STEP = timedelta(minutes=5)
CYCLE_SYMBOLS = 5_000
CYCLE_TARGET_S = 0.5
HISTORY_SYMBOLS = 500
QUERY_TARGET_S = 0.050
FRESH = timedelta(minutes=15)  # /top window: a symbol not scored for 3 cycles is stale
TOLERANCE = timedelta(minutes=15)  # /score: how far the 1h / 24h-ago scores may be off
POOL = 20_000
# The newest loaded time; history runs back from it.
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def check(ok: bool, what: str) -> None:
    """Stop the bench when what it measures is not what it claims to measure."""
    if not ok:
        raise RuntimeError(f"bench sanity check failed: {what}")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def file_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.parent.glob(path.name + "*")) / 1024**2


# --- realistic inputs --------------------------------------------------------------------


def random_inputs(rng: random.Random) -> ScoreInputs:
    """One symbol's inputs from a plausible spread (1 % miss the 24h horizon: partial)."""
    return ScoreInputs(
        oi_1h_pct=rng.gauss(0, 1.5),
        oi_4h_pct=rng.gauss(0, 4),
        oi_24h_pct=None if rng.random() < 0.01 else rng.gauss(2, 12),
        funding_pct=rng.gauss(0.01, 0.03),
        funding_interval_h=rng.choice([1.0, 4.0, 8.0]),
        basis_pct=rng.gauss(0, 0.25),
    )


def scored_pool(rng: random.Random, size: int = POOL) -> list[tuple[ScoreInputs, ScoreResult]]:
    pool = []
    for _ in range(size):
        inputs = random_inputs(rng)
        pool.append((inputs, score(inputs)))
    return pool


def snapshot(symbol: str, ts: datetime, price: float, oi: float, funding_pct: float) -> MarketSnapshot:
    return MarketSnapshot(
        exchange=EX,
        symbol=symbol,
        ts=ts,
        oi_contracts=oi,
        oi_usd=oi * price,
        mark_price=price,
        index_price=price * 0.9998,
        last_price=price * 1.0001,
        funding_rate=funding_pct / 100,
        funding_interval_h=8.0,
        next_funding_time=ts + timedelta(hours=3),
        volume_24h_usd=price * oi * 0.8,
    )


@dataclass
class Walk:
    """One symbol's market, moving a little every cycle."""

    symbol: str
    price: float
    oi: float
    oi_1h: float
    oi_4h: float
    oi_24h: float
    funding: float
    interval: float
    basis: float
    partial: bool


@dataclass
class Market:
    """``n`` symbols following random walks: each ``tick`` is one cycle's fetch."""

    n: int
    rng: random.Random
    walks: list[Walk] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.rng
        self.walks = [
            Walk(
                symbol=f"S{i:04d}USDT",
                price=10 ** r.uniform(-3, 4),
                oi=10 ** r.uniform(4, 8),
                oi_1h=r.gauss(0, 1.5),
                oi_4h=r.gauss(0, 4),
                oi_24h=r.gauss(2, 12),
                funding=r.gauss(0.01, 0.03),
                interval=r.choice([1.0, 4.0, 8.0]),
                basis=r.gauss(0, 0.25),
                partial=r.random() < 0.01,
            )
            for i in range(self.n)
        ]

    def tick(self, ts: datetime) -> list[tuple[MarketSnapshot, ScoreInputs]]:
        r = self.rng
        out = []
        for w in self.walks:
            w.price *= 1 + r.gauss(0, 0.003)
            w.oi *= 1 + r.gauss(0, 0.004)
            w.oi_1h = 0.8 * w.oi_1h + r.gauss(0, 0.9)
            w.oi_4h = 0.95 * w.oi_4h + r.gauss(0, 1.2)
            w.oi_24h = 0.99 * w.oi_24h + r.gauss(0.02, 1.7)
            w.funding = 0.97 * w.funding + 0.0003 + r.gauss(0, 0.005)
            w.basis = 0.9 * w.basis + r.gauss(0, 0.08)
            inputs = ScoreInputs(
                oi_1h_pct=w.oi_1h,
                oi_4h_pct=w.oi_4h,
                oi_24h_pct=None if w.partial else w.oi_24h,
                funding_pct=w.funding,
                funding_interval_h=w.interval,
                basis_pct=w.basis,
            )
            out.append((snapshot(w.symbol, ts, w.price, w.oi, w.funding), inputs))
        return out


# --- part 1: one cycle -----------------------------------------------------------------


@dataclass
class CycleWork:
    scores: list[ScoreRecord]
    states: dict[str, SymbolState]
    changed: list[SymbolState]
    events: int


def score_and_diff(
    fetched: list[tuple[MarketSnapshot, ScoreInputs]], previous: dict[str, SymbolState], now: datetime
) -> CycleWork:
    """What ``CollectionCycle.run`` does between the fetch and the store."""
    scores: list[ScoreRecord] = []
    points: list[ScoredPoint] = []
    for snap, inputs in fetched:
        r = score(inputs)
        scores.append(ScoreRecord(EX, snap.symbol, snap.ts, inputs, r))
        reading = Reading(
            ts=snap.ts,
            score=r.score,
            band=r.band,
            bias=r.bias,
            regime=r.regime,
            label=r.label,
            oi_1h_pct=inputs.oi_1h_pct,
            oi_4h_pct=inputs.oi_4h_pct,
            oi_24h_pct=inputs.oi_24h_pct,
            funding_8h_pct=r.components.funding_8h_pct,
            basis_pct=inputs.basis_pct,
        )
        points.append(ScoredPoint(snap.symbol, reading, r.partial))
    outcome = diff(EX, previous, points, now, DiffParams())
    changed = [st for sym, st in outcome.states.items() if previous.get(sym) != st]
    return CycleWork(scores, outcome.states, changed, len(outcome.events))


def store_batched(storage: Storage, snaps: list[MarketSnapshot], work: CycleWork) -> None:
    saved = storage.cycles.save_cycle(
        exchange=EX, snapshots=snaps, scores=work.scores, alert_states=work.changed, outbox=[]
    )
    check((saved.snapshots, saved.scores) == (len(snaps), len(work.scores)), "every row of the cycle stored")


def store_orm_per_row(storage: Storage, snaps: list[MarketSnapshot], work: CycleWork) -> None:
    """Baseline (a): one ORM object per row, one transaction."""
    sessions = session_factory(storage.engine)
    with transaction(sessions, "store a cycle, one ORM object per row") as session:
        session.add_all([SnapshotRow(**snapshot_to_row(s)) for s in snaps])
        session.add_all([ScoreRow(**score_to_row(r)) for r in work.scores])
        for state in work.changed:
            session.merge(AlertStateRow(**_state_row(EX, state)))
            session.execute(
                delete(AlertMarkRow).where(AlertMarkRow.exchange == EX, AlertMarkRow.symbol == state.symbol)
            )
            session.add_all([AlertMarkRow(**row) for row in _mark_rows(EX, state)])


def store_row_by_row(storage: Storage, snaps: list[MarketSnapshot], work: CycleWork) -> None:
    """Baseline (b): every row in a transaction of its own, through the repositories."""
    for snap in snaps:
        storage.snapshots.add_snapshots([snap])
    for record in work.scores:
        storage.cycles.save_cycle(exchange=EX, scores=[record])
    for state in work.changed:
        storage.alert_states.save_alert_states(EX, [state])


def pooled_history(
    symbols: list[str], times: list[datetime], pool: list[tuple[ScoreInputs, ScoreResult]], rng: random.Random
) -> Iterator[ScoreRecord]:
    for ts in times:
        for symbol in symbols:
            inputs, result = pool[rng.randrange(len(pool))]
            yield ScoreRecord(EX, symbol, ts, inputs, result)


def preload_cycle_history(storage: Storage, market: Market, start: datetime, hours: int, seed: int) -> None:
    """``hours`` of snapshots and scores for the cycle's symbols, twelve cycles per call."""
    rng = random.Random(seed)
    pool = scored_pool(rng, 5_000)
    steps = hours * 12
    symbols = [w.symbol for w in market.walks]
    began = time.perf_counter()
    for first in range(0, steps, 12):
        times = [start + (first + k) * STEP for k in range(min(12, steps - first))]
        storage.cycles.save_cycle(exchange=EX, scores=list(pooled_history(symbols, times, pool, rng)))
        storage.snapshots.add_snapshots(
            [snapshot(w.symbol, ts, w.price, w.oi, w.funding) for ts in times for w in market.walks]
        )
        if (first // 12) % 6 == 5 or first + 12 >= steps:
            log(
                f"  cycle history: {first // 12 + 1}/{(steps + 11) // 12} h loaded "
                f"({time.perf_counter() - began:.0f} s)"
            )


@dataclass
class CycleFigures:
    total: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)
    store: list[float] = field(default_factory=list)
    orm_total: list[float] = field(default_factory=list)
    orm_store: list[float] = field(default_factory=list)
    rows_total: list[float] = field(default_factory=list)
    load_states: list[float] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    events: list[int] = field(default_factory=list)
    history_hours: int = 0
    db_mb: float = 0.0


def bench_cycle(db: Path, cycles: int, orm_cycles: int, row_cycles: int, history_hours: int) -> CycleFigures:
    log(f"part 1: {CYCLE_SYMBOLS} symbols, {history_hours} h of history, {cycles} cycles")
    storage = open_storage(f"sqlite:///{db}")
    figures = CycleFigures(history_hours=history_hours)
    try:
        market = Market(CYCLE_SYMBOLS, random.Random(7))
        start = END - timedelta(hours=history_hours)
        preload_cycle_history(storage, market, start, history_hours, seed=11)
        ts = start + history_hours * 12 * STEP
        states: dict[str, SymbolState] = {}
        # Prime: one stored cycle (states inserted), two more to warm the caches.
        for _ in range(3):
            fetched = market.tick(ts)
            work = score_and_diff(fetched, states, ts)
            store_batched(storage, [s for s, _ in fetched], work)
            states, ts = work.states, ts + STEP
        modes = ["batched"] * cycles + ["ORM per row"] * orm_cycles + ["row per transaction"] * row_cycles
        for i, mode in enumerate(modes):
            fetched = market.tick(ts)
            snaps = [s for s, _ in fetched]
            began = time.perf_counter()
            work = score_and_diff(fetched, states, ts)
            computed = time.perf_counter()
            if mode == "batched":
                store_batched(storage, snaps, work)
                done = time.perf_counter()
                figures.total.append(done - began)
                figures.compute.append(computed - began)
                figures.store.append(done - computed)
                figures.changed.append(len(work.changed))
                figures.events.append(work.events)
                spent = done - began
            elif mode == "ORM per row":
                store_orm_per_row(storage, snaps, work)
                done = time.perf_counter()
                figures.orm_total.append(done - began)
                figures.orm_store.append(done - computed)
                spent = done - began
            else:
                store_row_by_row(storage, snaps, work)
                spent = time.perf_counter() - began
                figures.rows_total.append(spent)
            log(
                f"  cycle {i + 1}/{len(modes)} ({mode}): {spent:.3f} s, "
                f"{len(work.changed)} states changed, {work.events} events"
            )
            states, ts = work.states, ts + STEP
        for _ in range(5):
            began = time.perf_counter()
            loaded = storage.alert_states.load_alert_states(EX)
            figures.load_states.append(time.perf_counter() - began)
        check(loaded == states, "the stored states are the diff's")
        figures.db_mb = file_mb(db)
    finally:
        storage.close()
    return figures


def cycle_section(f: CycleFigures) -> str:
    rows = [
        "| measure | median | p90 | target |",
        "|---|---:|---:|---:|",
        f"| score + diff + `save_cycle`, 5,000 symbols ({len(f.total)} cycles) | {ms(median(f.total))} "
        f"| {ms(p(f.total, 0.9))} | < {CYCLE_TARGET_S * 1000:.0f} ms |",
        f"| — of which score + diff | {ms(median(f.compute))} | {ms(p(f.compute, 0.9))} | |",
        f"| — of which `save_cycle` (one transaction) | {ms(median(f.store))} | {ms(p(f.store, 0.9))} | |",
        f"| baseline (a): same cycle, one ORM object per row, one transaction ({len(f.orm_total)} cycles) "
        f"| {ms(median(f.orm_total))} | {ms(p(f.orm_total, 0.9))} | — |",
        f"| — of which the ORM writes | {ms(median(f.orm_store))} | {ms(p(f.orm_store, 0.9))} | |",
        f"| for reference: `load_alert_states`, 5,000 states (the cycle's read, not in the target) "
        f"| {ms(median(f.load_states))} | {ms(p(f.load_states, 0.9))} | |",
    ]
    if f.rows_total:
        rows.insert(
            -1,
            f"| baseline (b): same cycle, one row per transaction via the repositories "
            f"({len(f.rows_total)} cycle) | {median(f.rows_total):.1f} s | — | — |",
        )
    return (
        "### One cycle of 5,000 symbols: score + diff + store\n\n"
        f"SQLite file after the real migrations, already holding {f.history_hours} h of 5-minute "
        "snapshots and scores for the 5,000 symbols. Each cycle stores 5,000 snapshots, 5,000 "
        f"scores and the changed alert states (median {median(f.changed):,.0f}: every fresh "
        f"complete reading updates its state; median {median(f.events):.0f} events; no outbox). "
        "The baselines do the same score + diff; (a) writes the same rows with `session.add` / "
        "`session.merge` per row in one transaction"
        + (
            ", (b) through `add_snapshots([s])`, `save_cycle(scores=[r])` and "
            "`save_alert_states(ex, [state])`, one transaction each"
            if f.rows_total
            else ""
        )
        + ". Database "
        f"after the run: {f.db_mb:,.0f} MB.\n\n" + "\n".join(rows)
    )


# --- part 2: /top and /score from history ------------------------------------------------


@dataclass
class History:
    days_wanted: int
    days_loaded: int
    rows: int
    load_s: float
    db_mb: float
    symbols: list[str]
    now: datetime


def load_history(storage: Storage, db: Path, days: int, budget_s: float) -> History:
    rng = random.Random(5)
    pool = scored_pool(rng)
    symbols = [f"H{i:03d}USDT" for i in range(HISTORY_SYMBOLS)]
    per_day = 24 * 12
    start = END - (days * per_day - 1) * STEP
    began = time.perf_counter()
    rows = loaded = 0
    for day in range(days):
        times = [start + (day * per_day + k) * STEP for k in range(per_day)]
        rows += storage.cycles.save_cycle(
            exchange=EX, scores=list(pooled_history(symbols, times, pool, rng))
        ).scores
        loaded += 1
        elapsed = time.perf_counter() - began
        log(f"  history: day {day + 1}/{days}, {rows:,} rows, {elapsed:.0f} s, {file_mb(db):.0f} MB")
        if elapsed > budget_s and day + 1 < days:
            log(f"  load budget of {budget_s:.0f} s spent: measuring on {loaded} days")
            break
    now = start + (loaded * per_day - 1) * STEP
    return History(days, loaded, rows, time.perf_counter() - began, file_mb(db), symbols, now)


def naive_top(sessions: Callable[[], Session], now: datetime, bias: Bias | None) -> list[ScoreRecord]:
    """The newest row per symbol by max(ts) over the whole table, no time window."""
    newest = (
        select(ScoreRow.symbol, func.max(ScoreRow.ts).label("ts"))
        .where(ScoreRow.exchange == EX)
        .group_by(ScoreRow.symbol)
        .subquery()
    )
    stmt = (
        select(ScoreRow)
        .join(
            newest,
            and_(ScoreRow.exchange == EX, ScoreRow.symbol == newest.c.symbol, ScoreRow.ts == newest.c.ts),
        )
        .where(ScoreRow.ts >= now - FRESH)
        .order_by(ScoreRow.score.desc(), ScoreRow.symbol)
        .limit(50)
    )
    if bias is not None:
        stmt = stmt.where(ScoreRow.bias == bias.value)
    with sessions() as session:
        return [row_to_score(row) for row in session.scalars(stmt)]


def naive_card(sessions: Callable[[], Session], symbol: str) -> ScoreCard | None:
    """The symbol's last 24 h + tolerance of rows, read whole and picked from in Python."""
    with sessions() as session:
        latest_ts = session.scalar(
            select(func.max(ScoreRow.ts)).where(ScoreRow.exchange == EX, ScoreRow.symbol == symbol)
        )
        if latest_ts is None:
            return None
        stmt = (
            select(ScoreRow)
            .where(
                ScoreRow.exchange == EX,
                ScoreRow.symbol == symbol,
                ScoreRow.ts >= latest_ts - timedelta(hours=24) - TOLERANCE,
            )
            .order_by(ScoreRow.ts)
        )
        history = [row_to_score(row) for row in session.scalars(stmt)]

    def at(when: datetime) -> ScoreRecord | None:
        found = [r for r in history if when - TOLERANCE <= r.ts <= when]
        return found[-1] if found else None

    return ScoreCard(
        latest=history[-1],
        hour_ago=at(latest_ts - timedelta(hours=1)),
        day_ago=at(latest_ts - timedelta(hours=24)),
    )


@dataclass
class QueryFigures:
    heap_objects: int = 0
    full_gc_s: float = 0.0
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    gc_hits: dict[tuple[str, str], int] = field(default_factory=dict)


class GcWatch:
    """Counts the timed calls during which a full (generation 2) collection ran."""

    def __init__(self) -> None:
        self.full = 0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info.get("generation") == 2:
            self.full += 1

    def close(self) -> None:
        gc.callbacks.remove(self._callback)


def timed_collections(n: int = 5) -> list[float]:
    out = []
    for _ in range(n):
        began = time.perf_counter()
        gc.collect()
        out.append(time.perf_counter() - began)
    return out


def time_calls(
    figures: QueryFigures, key: tuple[str, str], fn: Callable[[], object], n: int, watch: GcWatch
) -> None:
    samples = figures.samples.setdefault(key, [])
    hits = 0
    for _ in range(n):
        before = watch.full
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
        hits += watch.full != before
    figures.gc_hits[key] = figures.gc_hits.get(key, 0) + hits


def bench_queries(storage: Storage, history: History, queries: int, baseline_queries: int) -> QueryFigures:
    scores = storage.scores
    now = history.now
    rng = random.Random(3)
    top_calls: dict[str, Callable[[], object]] = {
        "`/top`: `latest_scores(since=now-15m, limit=50)`": lambda: scores.latest_scores(
            EX, since=now - FRESH, limit=50
        ),
        "`/top` SHORT: `latest_scores(..., bias=SHORT, limit=50)`": lambda: scores.latest_scores(
            EX, since=now - FRESH, bias=Bias.SHORT, limit=50
        ),
        "`/score`: `score_card(symbol, tolerance=15m)`": lambda: scores.score_card(
            EX, rng.choice(history.symbols), tolerance=TOLERANCE
        ),
    }
    # Sanity: the store sees every symbol and a full card.
    check(len(scores.latest_scores(EX, since=now - FRESH)) == HISTORY_SYMBOLS, "/top sees every symbol")
    card = scores.score_card(EX, history.symbols[0], tolerance=TOLERANCE)
    check(card is not None and card.hour_ago is not None, "/score finds the hour-ago score")
    check(card is not None and (card.day_ago is not None) == (history.days_loaded >= 2), "day-ago score")

    figures = QueryFigures()
    gc.collect()
    figures.heap_objects = len(gc.get_objects())
    figures.full_gc_s = median(timed_collections())
    log(f"part 2: {figures.heap_objects:,} GC-tracked objects, full collection {ms(figures.full_gc_s)}")
    watch = GcWatch()
    try:
        for fn in top_calls.values():  # warm-up
            for _ in range(20):
                fn()
        blocks = 4
        per_block = -(-queries // blocks)
        # ABBA: as is, frozen, frozen, as is (x2), so drift affects both modes alike.
        for index, mode in enumerate(["as is", "gc.freeze()", "gc.freeze()", "as is"] * (blocks // 2)):
            if mode == "gc.freeze()":
                gc.freeze()
            for name, fn in top_calls.items():
                time_calls(figures, (name, mode), fn, per_block, watch)
            if mode == "gc.freeze()":
                gc.unfreeze()
            log(f"  queries: block {index + 1}/{blocks * 2} ({mode}) done")

        sessions = session_factory(storage.engine)
        baselines: dict[str, Callable[[], object]] = {
            "baseline `/top`: newest row per symbol by `max(ts)` over the whole table": lambda: naive_top(
                sessions, now, None
            ),
            "baseline `/top` SHORT: the same with the bias filter": lambda: naive_top(
                sessions, now, Bias.SHORT
            ),
            "baseline `/score`: the symbol's last 24 h read whole, picked in Python": lambda: naive_card(
                sessions, rng.choice(history.symbols)
            ),
        }
        expected = [r.symbol for r in scores.latest_scores(EX, since=now - FRESH, limit=50)]
        check([r.symbol for r in naive_top(sessions, now, None)] == expected, "naive /top agrees")
        symbol = history.symbols[7]
        card = scores.score_card(EX, symbol, tolerance=TOLERANCE)
        check(naive_card(sessions, symbol) == card, "naive /score agrees")
        for name, fn in baselines.items():
            fn()
            n = baseline_queries if name.startswith("baseline `/top`") else queries
            began = time.perf_counter()
            time_calls(figures, (name, "as is"), fn, n, watch)
            log(f"  {name.split(':')[0]}: {n} calls, {time.perf_counter() - began:.0f} s")
    finally:
        watch.close()
    return figures


def query_section(h: History, f: QueryFigures, bot_heap: bool) -> str:
    rows = [
        "| query | GC | calls | p50 | p99 | max | calls with a full GC | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, mode), samples in f.samples.items():
        target = "—" if name.startswith("baseline") else f"p99 < {QUERY_TARGET_S * 1000:.0f} ms"
        rows.append(
            f"| {name} | {mode} | {len(samples)} | {ms(median(samples))} | {ms(p(samples, 0.99))} "
            f"| {ms(max(samples))} | {f.gc_hits[(name, mode)]} | {target} |"
        )
    heap_note = (
        " (the bot's composition root `bot.bootstrap` imported, ccxt included, and no market or "
        "chat data loaded: a running bot holds at least that)"
        if bot_heap
        else " (bench modules only: a running bot holds more)"
    )
    size = f"{h.days_loaded} days" + (
        "" if h.days_loaded == h.days_wanted else f" (of the {h.days_wanted} asked: load budget spent)"
    )
    return (
        f"### `/top` and `/score` from {h.days_loaded} days of history (500 symbols)\n\n"
        f"{size} of 5-minute scores for {HISTORY_SYMBOLS} symbols: {h.rows:,} rows, loaded through "
        f"`save_cycle` one day per call in {h.load_s:.0f} s ({h.rows / h.load_s:,.0f} rows/s); "
        f"database {h.db_mb:,.0f} MB (scores only: snapshots live in another table these "
        "queries never read). `/top` reads the newest 15 minutes; `/score` picks a random "
        "symbol each call. Calls alternate in blocks between the collector as is and after "
        '`gc.freeze()`; "calls with a full GC" counts calls during which a generation-2 '
        f"collection ran. The process holds {f.heap_objects:,} GC-tracked objects{heap_note}, so "
        f"a full collection takes {ms(f.full_gc_s)} here unless frozen.\n\n" + "\n".join(rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30, help="days of history for part 2 (default 30)")
    parser.add_argument("--load-budget", type=float, default=240.0, help="seconds to spend loading part 2")
    parser.add_argument("--cycles", type=int, default=10, help="timed batched cycles (default 10)")
    parser.add_argument("--orm-cycles", type=int, default=3, help="timed ORM-per-row baseline cycles")
    parser.add_argument(
        "--row-baseline", action="store_true", help="also time one cycle stored one row per transaction"
    )
    parser.add_argument(
        "--cycle-history-hours", type=int, default=24, help="history already stored before part 1"
    )
    parser.add_argument("--queries", type=int, default=1000, help="calls per query and GC mode")
    parser.add_argument("--baseline-queries", type=int, default=30, help="calls per naive /top")
    parser.add_argument("--skip-cycle", action="store_true", help="run part 2 only")
    parser.add_argument(
        "--bare-heap", action="store_true", help="do not import the bot's modules (smaller heap for the GC)"
    )
    args = parser.parse_args()

    began = time.perf_counter()
    if not args.bare_heap:
        # What the bot process holds before any data (ccxt is most of it): the GC walks it all.
        importlib.import_module("bot.bootstrap")
    sections = []
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        if not args.skip_cycle:
            figures = bench_cycle(
                Path(tmp) / "cycle.sqlite3",
                args.cycles,
                args.orm_cycles,
                1 if args.row_baseline else 0,
                args.cycle_history_hours,
            )
            sections.append(cycle_section(figures))
            gc.collect()
        db = Path(tmp) / "history.sqlite3"
        log(f"part 2: {HISTORY_SYMBOLS} symbols, {args.days} days of history")
        storage = open_storage(f"sqlite:///{db}")
        try:
            history = load_history(storage, db, args.days, args.load_budget)
        finally:
            storage.close()
        gc.collect()
        storage = open_storage(f"sqlite:///{db}", upgrade=False)  # fresh connections
        try:
            query_figures = bench_queries(storage, history, args.queries, args.baseline_queries)
        finally:
            storage.close()
        sections.append(query_section(history, query_figures, not args.bare_heap))
    runtime = time.perf_counter() - began
    text = "## Storage\n\n" + "\n\n".join(sections)
    text += f"\n\nThe script (`bench/bench_storage.py`) ran for {runtime / 60:.1f} minutes."
    print(text)
    write_section("storage", text)


if __name__ == "__main__":
    main()
