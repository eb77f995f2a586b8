"""Target: one 5,000-symbol collection cycle — every read, score, diff and write — in under
0.3 s (median) on SQLite, with the PostgreSQL figures beside it.

The bench runs ``bot.app.cycle.CollectionCycle.run`` itself, wired as ``build_collector``
wires it for ``dps run``: the storage's snapshot, alert-state, chat, outbox and cycle
stores, the collector lease's fence, the alert renderer. Only the market source is
replaced, by one that answers at once with the next 5-minute snapshot of 5,000 symbols
following random walks (price, OI and funding move a little every cycle), so what is
timed is the cycle's own work: the OI and mark-price window reads (from the points the
cycle keeps in memory, once read), the alert-state read
(when the cycle makes it), scoring, the diff, and ``save_cycle`` in one transaction.

The database is a real one migrated by Alembic through ``open_storage`` (SQLite: a file in
a temporary directory, WAL, ``synchronous=NORMAL``, checkpointed by the storage's own
thread after each commit, as the bot runs it). Before the timed
cycles it holds 24 h of 5-minute snapshots and scores for the 5,000 symbols (2.9M rows,
bulk-loaded), then two untimed cycles store the first alert states, read the points the
cycle keeps in memory, and warm the caches. The split of each cycle comes from timing the
ports the cycle calls (reads: the window reads, or the OI and price changes measured on
the memory, and the state read; writes: ``save_cycle``); score + diff is the rest of
``run``. The WAL checkpoint that follows each cycle's commit on SQLite is timed apart (the
bench waits for it to end before the next cycle, as the minutes between real cycles would).
The garbage collector is configured as ``dps run`` configures it:
``bot.gc_policy.after_start()`` after the first cycle, as the runner calls it after the
backfill and first cycle.

PostgreSQL runs the same on a throwaway local cluster (the test suite's, durability off:
``fsync=off``, ``synchronous_commit=off``) when its binaries are installed.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from bench.common import median, p, write_section
from bot import gc_policy, malloc_arenas
from bot.app.cycle import CollectionCycle, CycleDeps, diff_params_for
from bot.app.lease import collector_lease
from bot.app.market_memory import MarketMemory
from bot.core.collection import FetchReport, OiPoint
from bot.core.market import MarketSnapshot
from bot.core.models import ScoreInputs
from bot.core.params import ScoringParams
from bot.core.records import ScoreRecord
from bot.core.scoring import score
from bot.render.documents import alert_document
from bot.storage.facade import Storage, open_storage
from bot.storage.models import ScoreRow, SnapshotRow, table_of
from bot.storage.repositories.scores import score_to_row
from bot.storage.repositories.snapshots import snapshot_to_row

EX = "binanceusdm"
STEP = timedelta(minutes=5)
SYMBOLS = 5_000
TARGET_S = 0.3
HISTORY_HOURS = 24
# At half past: the timed cycles (after two warm-up ones) cross an hour, whose first cycle
# writes every alert state (`bot.core.diff.material_changes`), as one cycle an hour does.
START = datetime(2026, 11, 19, 11, 30, tzinfo=UTC)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


@dataclass
class Walk:
    """One symbol's market, moving a little every cycle."""

    symbol: str
    price: float
    oi: float
    funding: float


class Market:
    """``n`` symbols following random walks; ``tick`` moves them one cycle on."""

    def __init__(self, n: int, rng: random.Random) -> None:
        self.rng = rng
        self.walks = [
            Walk(f"S{i:04d}USDT", 10 ** rng.uniform(-3, 4), 10 ** rng.uniform(4, 8), rng.gauss(0.01, 0.03))
            for i in range(n)
        ]

    def tick(self, ts: datetime) -> list[MarketSnapshot]:
        r = self.rng
        out = []
        for w in self.walks:
            # Persistent drifts give the scores real spread (and the diff real band changes).
            w.price *= 1 + r.gauss(0, 0.002)
            w.oi *= 1 + r.gauss(0.0002, 0.004)
            w.funding = 0.97 * w.funding + 0.0003 + r.gauss(0, 0.004)
            out.append(
                MarketSnapshot(
                    exchange=EX,
                    symbol=w.symbol,
                    ts=ts,
                    oi_contracts=w.oi,
                    oi_usd=w.oi * w.price,
                    mark_price=w.price,
                    index_price=w.price * (1 - r.gauss(0, 0.0005)),
                    last_price=w.price * 1.0001,
                    funding_rate=w.funding / 100,
                    funding_interval_h=8.0,
                    next_funding_time=ts + timedelta(hours=3),
                    volume_24h_usd=w.price * w.oi * 0.8,
                )
            )
        return out


class InstantSource:
    """``bot.ports.MarketSource`` answering at once with snapshots prepared before the cycle."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols
        self.next: list[MarketSnapshot] = []

    async def load_universe(self) -> list[str]:
        return list(self.symbols)

    async def fetch_cycle(self, now: datetime) -> FetchReport:
        return FetchReport(
            snapshots=tuple(self.next), failures=(), requests=0, weight_used=None, duration_s=0.0
        )

    async def fetch_oi_history(self, symbol: str, since: datetime, until: datetime) -> list[OiPoint]:
        return []

    async def close(self) -> None:
        return None


def preload(storage: Storage, market: Market, hours: int) -> datetime:
    """``hours`` of 5-minute snapshots and scores, one Core executemany per hour; returns the next time."""
    pool_rng = random.Random(5)
    pool = []
    for _ in range(2_000):
        inputs = ScoreInputs(
            oi_1h_pct=pool_rng.gauss(0, 1.5),
            oi_4h_pct=pool_rng.gauss(0, 4),
            oi_24h_pct=pool_rng.gauss(2, 12),
            funding_pct=pool_rng.gauss(0.01, 0.03),
            funding_interval_h=8.0,
            basis_pct=pool_rng.gauss(0, 0.25),
        )
        pool.append((inputs, score(inputs)))
    began = time.perf_counter()
    ts = START
    for hour in range(hours):
        snaps: list[dict[str, Any]] = []
        scores: list[dict[str, Any]] = []
        for _ in range(12):
            for snap in market.tick(ts):
                snaps.append(snapshot_to_row(snap))
                inputs, result = pool[pool_rng.randrange(len(pool))]
                scores.append(score_to_row(ScoreRecord(EX, snap.symbol, ts, inputs, result)))
            ts += STEP
        with storage.engine.begin() as conn:
            conn.execute(insert(table_of(SnapshotRow)), snaps)
            conn.execute(insert(table_of(ScoreRow)), scores)
        if hour % 6 == 5:
            log(f"  history: {hour + 1}/{hours} h loaded ({time.perf_counter() - began:.0f} s)")
    return ts


@dataclass
class Timings:
    """Seconds spent in the ports a cycle calls, reset per cycle."""

    reads: float = 0.0
    writes: float = 0.0
    state_reads: int = 0


def timed_port(target: Any, names: tuple[str, ...], add: Callable[[float, str], None]) -> Any:
    """A proxy of ``target`` whose ``names`` methods report their wall time to ``add``."""

    class Proxy:
        def __getattr__(self, name: str) -> Any:
            attr = getattr(target, name)
            if name not in names:
                return attr

            def call(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return attr(*args, **kwargs)
                finally:
                    add(time.perf_counter() - began, name)

            return call

    return Proxy()


@dataclass
class Figures:
    backend: str
    total: list[float] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)
    writes: list[float] = field(default_factory=list)
    compute: list[float] = field(default_factory=list)
    checkpoints: list[float] = field(default_factory=list)
    state_reads: int = 0
    events: list[int] = field(default_factory=list)
    scored: list[int] = field(default_factory=list)
    load_s: float = 0.0


@dataclass
class Prepared:
    """A database holding the history, and the market as it stood after it."""

    url: str
    market: Market
    now: datetime
    load_s: float


def prepare(url: str, hours: int) -> Prepared:
    """Migrate the database at ``url`` and load ``hours`` of history into it."""
    storage = open_storage(url)
    try:
        market = Market(SYMBOLS, random.Random(7))
        began = time.perf_counter()
        now = preload(storage, market, hours)
        return Prepared(url, market, now, time.perf_counter() - began)
    finally:
        storage.close()


def run_cycles(prepared: Prepared, backend: str, cycles: int, keep_states: bool) -> Figures:
    """Time ``cycles`` runs of ``CollectionCycle.run`` on a prepared database."""
    storage = open_storage(prepared.url)
    figures = Figures(backend, load_s=prepared.load_s)
    market, now = copy.deepcopy(prepared.market), prepared.now
    try:
        t = Timings()

        def add(seconds: float, name: str) -> None:
            if name == "save_cycle":
                t.writes += seconds
            else:
                t.reads += seconds
                t.state_reads += name == "load_alert_states"

        # The points the cycle keeps in memory replace most window reads: measuring the
        # cycle's OI and price changes on that memory counts as a read too.
        picked = MarketMemory.changes

        def timed_changes(memory: MarketMemory, *args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return picked(memory, *args, **kwargs)
            finally:
                add(time.perf_counter() - began, "market memory")

        MarketMemory.changes = timed_changes  # type: ignore[method-assign]
        source = InstantSource([w.symbol for w in market.walks])
        lease = collector_lease(storage.leases, EX, ttl=timedelta(minutes=15), holder="bench")
        deps = CycleDeps(
            exchange=EX,
            source=source,
            snapshots=timed_port(storage.snapshots, ("market_history",), add),
            alert_states=timed_port(storage.alert_states, ("load_alert_states",), add),
            chats=storage.chats,
            outbox=storage.outbox,
            cycles=timed_port(storage.cycles, ("save_cycle",), add),
        )
        cycle = CollectionCycle(
            deps,
            ScoringParams(),
            diff_params_for(300),
            partial(alert_document, source_label=None),
            fence=lease.claim,
            keep_states=keep_states,
        )
        warm = 2
        for i in range(warm + cycles):
            source.next = market.tick(now)
            if not lease.hold(now):
                raise SystemExit("the bench's lease was not granted")
            t.reads = t.writes = 0.0
            checkpointed = checkpoint_seconds(storage)
            began = time.perf_counter()
            report = asyncio.run(cycle.run(now))
            spent = time.perf_counter() - began
            # The WAL checkpoint runs on its own thread after the commit (SQLite): let it end
            # before the next cycle, as the minutes between real cycles do, and count it apart.
            checkpointed = checkpoint_seconds(storage, settle=True) - checkpointed
            if i == 0:
                # As ``dps run`` does after the backfill and its first cycle (``bot/runner.py``):
                # what start-up loaded, the market memory included, leaves the GC's sight.
                gc_policy.after_start()
            if i >= warm:
                figures.total.append(spent)
                figures.reads.append(t.reads)
                figures.writes.append(t.writes)
                figures.compute.append(spent - t.reads - t.writes)
                figures.checkpoints.append(checkpointed)
                figures.events.append(report.events)
                figures.scored.append(report.scored)
                log(
                    f"  {backend} cycle {i - warm + 1}/{cycles}: {spent:.3f} s (reads {t.reads:.3f}, "
                    f"writes {t.writes:.3f}, then checkpoint {checkpointed:.3f}), {report.scored} scored, "
                    f"{report.events} events"
                )
            now += STEP
        figures.state_reads = t.state_reads
        remembered = cycle.remembered_states()
        if remembered is not None and remembered != storage.alert_states.load_alert_states(EX):
            raise SystemExit("the stored alert states differ from the cycle's")
    finally:
        MarketMemory.changes = picked  # type: ignore[method-assign]
        storage.close()
    return figures


def checkpoint_seconds(storage: Storage, *, settle: bool = False) -> float:
    """Seconds the storage's WAL checkpointer has worked so far (0 without one: PostgreSQL).

    With ``settle``, first wait until it has served every commit so far.
    """
    checkpointer = storage.checkpointer
    if checkpointer is None:
        return 0.0
    if settle and not checkpointer.settle(120):
        raise SystemExit("the WAL checkpointer did not finish within 120 s")
    return checkpointer.seconds


@contextmanager
def postgres_url() -> Iterator[str | None]:
    """A fresh database on a throwaway PostgreSQL cluster, or None when none can run."""
    try:
        from tests.postgres import PostgresDatabases, find_postgres_bin, throwaway_cluster
    except ImportError:
        yield None
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        yield None
        return
    with throwaway_cluster(bin_dir) as server:
        databases = PostgresDatabases(server)
        try:
            yield databases.acquire()
        finally:
            databases.close()


def row(label: str, f: Figures) -> str:
    return (
        f"| {label} | {ms(median(f.total))} | {ms(p(f.total, 0.9))} | {ms(median(f.reads))} "
        f"| {ms(median(f.compute))} | {ms(median(f.writes))} | {ms(median(f.checkpoints))} |"
    )


def verdict(f: Figures) -> str:
    got = median(f.total)
    what = f"{ms(got)} median over {len(f.total)} cycles on SQLite"
    target = "Verdict: 5,000-symbol cycle under 0.3 s median on SQLite, every read included"
    if got < TARGET_S:
        return f"{target} — **met** ({what})."
    return f"{target} — **missed by {got - TARGET_S:.3f} s** ({what})."


def section(results: list[tuple[str, Figures]], baseline: Figures, pg_note: str) -> str:
    main = results[0][1]
    lines = [
        "| cycle | median | p90 | reads | score + diff | writes (`save_cycle`) "
        "| WAL checkpoint, after the cycle |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(row(label, f) for label, f in results),
        row("baseline: alert states and windows read from the database every cycle", baseline),
    ]
    return (
        "## Collection cycle: 5,000 symbols, every read included\n\n"
        f"`CollectionCycle.run` itself, wired as `dps run` wires it, over a market source that "
        f"answers at once: {SYMBOLS:,} symbols, the database already holding {HISTORY_HOURS} h of "
        f"5-minute snapshots and scores for them. Each cycle reads the OI and mark-price "
        f"windows, scores, diffs against the alert states, and stores {SYMBOLS:,} snapshots, "
        f"{SYMBOLS:,} scores and the states that changed materially (band, alerts, or the "
        f"reading's UTC hour: the first cycle of each hour writes every state, and the timed "
        f"cycles cross one hour) in one transaction under the lease's fence. "
        f"Reads are the window reads (while the lease is held, the OI and price changes "
        f"measured on the points the cycle keeps in memory, `bot/app/market_memory.py`, read "
        f"from the database at the first cycle) plus `load_alert_states` whenever the cycle makes it "
        f"({main.state_reads} times in {len(main.total) + 2} cycles of the SQLite run: the states "
        f"stay in memory while the lease is held); score + diff is the rest of `run`. "
        f"On SQLite the commit leaves copying the WAL's pages back into the database file to "
        f"the storage's checkpointer thread (`bot/storage/wal_checkpoint.py`): that work is "
        f"not part of the cycle's time, and its last column shows it, timed after each cycle "
        f"(the bench lets it finish before the next cycle, as the minutes between real cycles "
        f"do). "
        f"Median {median(main.events):.0f} alert events and {median(main.scored):,.0f} symbols "
        f"scored per cycle; no chats, so no outbox rows. The garbage collector is configured "
        f"as `dps run` configures it (`bot.gc_policy.after_start()` after the first cycle), and "
        f"each cycle pauses it while it computes and stores (`bot.gc_policy.collector_paused`).\n\n"
        + "\n".join(lines)
        + "\n\nBaseline (one sentence): the same cycle with the states kept in memory switched off "
        "(`keep_states=False`), so it reads all 5,000 states and their alerts, and the OI and "
        "mark-price windows, from the database every cycle, as it did before ("
        f"{baseline.state_reads} state reads in "
        f"{len(baseline.total) + 2} cycles).\n\n"
        f"{pg_note}\n\nLoad average (1 min) at the end of the run: {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores; other work on the machine slows every figure above.\n\n"
        f"{verdict(main)}\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10, help="timed cycles per run (default 10)")
    parser.add_argument("--hours", type=int, default=HISTORY_HOURS, help="history stored first")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    malloc_arenas.tune()  # as ``bot.runner.run`` does before it builds the app
    results: list[tuple[str, Figures]] = []
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        log(f"SQLite: loading {args.hours} h of history")
        prepared = prepare(f"sqlite:///{tmp / 'cycle.db'}", args.hours)
        # The baseline runs on a copy of the same history (the engine is closed: no WAL left).
        shutil.copy(tmp / "cycle.db", tmp / "base.db")
        log("SQLite, states kept in memory")
        results.append(("SQLite", run_cycles(prepared, "SQLite", args.cycles, True)))
        log("SQLite baseline, states read every cycle")
        base = Prepared(f"sqlite:///{tmp / 'base.db'}", prepared.market, prepared.now, prepared.load_s)
        baseline = run_cycles(base, "SQLite", args.cycles, False)
        if baseline.events != results[0][1].events:
            # Same history, same market: kept in memory or read back, the alerts must match.
            raise SystemExit("the cycle with its memory raised other alerts than the baseline")
        pg_note = "PostgreSQL not available (no server binaries found): no PostgreSQL figures."
        if not args.no_postgres:
            url = stack.enter_context(postgres_url())
            if url is not None:
                log(f"PostgreSQL: loading {args.hours} h of history")
                pg = run_cycles(prepare(url, args.hours), "PostgreSQL", args.cycles, True)
                results.append(("PostgreSQL (local throwaway cluster, durability off)", pg))
                pg_note = (
                    f"PostgreSQL: {ms(median(pg.total))} median on a local throwaway cluster with "
                    "`fsync=off` and `synchronous_commit=off` (the test suite's), so its writes "
                    "are cheaper than on a durable server."
                )
        else:
            pg_note = "PostgreSQL not measured in this run (`--no-postgres`)."
    text = section(results, baseline, pg_note)
    print(text)
    write_section("cycle", text)


if __name__ == "__main__":
    main()
