"""Target: ``/top``, ``/top short`` and ``/score`` answered in under 20 ms at p99 in the state
``dps run`` is in after start-up, while cycles run in the same process.

The state: the app built as ``dps run`` builds it (``bot.bootstrap.build_app`` with role
``all``, the console chat registered), collecting from the fake exchange
(``tests/fakes/exchange``, in a child process so its request log is not the bot's memory)
serving 500 generated Binance USD-M perpetuals; ``bot.runner.Process.cycle`` with the
backfill pending, which loads the markets, backfills 24 h of OI history, runs the first
cycle and calls ``bot.gc_policy.after_start()`` exactly as ``dps run`` does; a SQLite file
migrated by Alembic holding 30 days of 5-minute scores for those 500 symbols.

The history is bulk-loaded once: one day of rows from a pool of scored random inputs,
then copied forward day by day in SQL (the queries do not depend on the values beyond the
bias mix). The file is cached under the system's temporary directory, keyed by the schema
revision, the symbols and the days; a later run tops it up to the current time with the
same pool and drops what is older than 30 days, so its newest history meets the live cycles.

Then, in the same event loop: a task runs ``Process.cycle`` and ``Process.deliver`` with a
``--cycle-gap`` pause after each (cycles every few seconds, each one storing 500 fresh
scores, snapshots and alert states), while the bench sends ``/top``, ``/top short`` and
``/score <random symbol>`` in turn, each with a random pause of up to 10 ms before it so the
cycles progress. Timed per call: ``ConsoleAdapter.handle_line`` — the command layer's
registry handler (rate limit, parsing, the store reads) plus the reply document and its
plain text, the path every chat command takes minus the platform's own send. A call
"overlapped a cycle" when a cycle was in flight (started, not finished) while it ran: the
cycle was awaiting the exchange, or one of its steps was running in its worker thread
(``bot.app.off_loop``), so the call ran beside it. A "full GC" is a
generation-2 collection (``gc.callbacks``) during the call. A call "read on the loop" when
it sent a statement on the event loop's thread (SQLAlchemy's ``before_cursor_execute``;
not the cycle's tasks' statements meanwhile): a command that reads the market, or checks
the store's mark, itself. Since the markets are prepared off the loop (``Queries.refresh`` after each cycle,
``Queries.current`` when one is due) a command in steady state sends none.

Three phases, one after another, same process and database:
(a) as ``dps run`` is: the read path of this commit, the GC as ``after_start`` left it;
(b) baseline: the same calls through a second command layer whose score store answers
``latest_scores`` and ``score_card`` as before this change (ORM rows; every (symbol, ts)
pair of the window read, then the rows at each symbol's newest time);
(c) for reference: ``gc.unfreeze()``, the read path of this commit: what the freeze buys.

Then a leg of its own with three venues (issue 18: the same targets with several venues):
``dps run`` with ``EXCHANGES=binanceusdm,bybit,okx`` against three fakes (one server per
venue, the same generated market), a fresh database holding 25 h of scores of each venue
and of the aggregate ``all``, rounds run as the schedule runs them (each venue's cycle a
task of its own, then the aggregate's), while ``/top`` (the aggregate), ``/top bybit`` and
``/score <asset>`` (the aggregate's card with a line per venue) are sent in turn.
``--legs one`` or ``--legs three`` runs one leg alone (printed, not written to the results).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import gc
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Connection, Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bench.common import median, p, write_section
from bot import gc_policy, malloc_arenas
from bot.app.commands import CommandLayer, CommandPorts
from bot.app.off_loop import SWITCH_INTERVAL_S
from bot.bootstrap import App, SystemClock, build_app
from bot.chat.console_adapter import ConsoleAdapter
from bot.collector.client import SourceTuning
from bot.config import Settings, load_settings
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.models import Bias, Regime, ScoreInputs
from bot.core.records import ChatKind, ChatSettings, ScoreCard, ScoreRecord
from bot.core.scoring import score
from bot.roles import Role
from bot.runner import Process
from bot.storage.db import session_factory, transaction
from bot.storage.facade import open_storage
from bot.storage.migrate import head_revision
from bot.storage.models import ScoreRow, hour_of, table_of
from bot.storage.repositories._common import newest_in_window, rows_at
from bot.storage.repositories.scores import DAY, HOUR, SqlScoreStore, row_to_score, score_to_row

ROOT = Path(__file__).resolve().parents[1]
EX = "binanceusdm"
SYMBOLS = 500
DAYS = 30
STEP = timedelta(minutes=5)
TARGET_S = 0.020
CALLS = 1000  # per command, phase (a)
OTHER_CALLS = 400  # per command, phases (b) and (c)
CYCLE_GAP_S = 2.0
MAX_PAUSE_S = 0.010
RATE_LIMIT_MS = 2.0  # ccxt's spacing, as bench_memory: cycles in seconds, not minutes
WEIGHT_LIMIT = 100 * 2400
# The client's budgets and the fakes' limits scale alike (``FakeExchange.scale_limits``):
# a client allowed more than a fake allows is refused as soon as it is fast enough.
BUDGET_SCALE = WEIGHT_LIMIT / 2400
POOL = 5_000
COMMANDS = ("/top", "/top short", "/score")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def check(ok: bool, what: str) -> None:
    """Stop the bench when what it measures is not what it claims to measure."""
    if not ok:
        raise RuntimeError(f"bench sanity check failed: {what}")


def symbol_names() -> list[str]:
    """The fake's generated perpetuals (``FakeMarket.generated``) as the bot stores them."""
    return [f"S{n:03d}USDT" for n in range(SYMBOLS)]


# -- the child process ------------------------------------------------------------------


def serve_fakes(count: int) -> None:
    """Child: serve ``count`` fake exchanges (one per venue, each its own server and limits, as
    the venues are other machines), print their URLs on one line, stop when stdin closes."""
    from tests.fakes.exchange import FakeExchange, FakeMarket

    async def serve() -> None:
        fakes = [FakeExchange(FakeMarket.generated(SYMBOLS)) for _ in range(count)]
        urls = []
        for fake in fakes:
            fake.scale_limits(BUDGET_SCALE)
            urls.append(await fake.start())
        print(" ".join(urls), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for fake in fakes:
            await fake.stop()

    asyncio.run(serve())


@contextlib.contextmanager
def fake_exchanges(count: int = 1) -> Iterator[list[str]]:
    """``count`` fake exchanges serving ``SYMBOLS`` perpetuals each, in a child process: their URLs."""
    fake = subprocess.Popen(
        [sys.executable, __file__, "--serve-fakes", str(count)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if fake.stdin is None or fake.stdout is None:
        raise RuntimeError("no pipes to the fake exchange")
    try:
        urls = fake.stdout.readline().split()
        if len(urls) != count or not all(url.startswith("http://") for url in urls):
            raise SystemExit(f"the fake exchanges did not start (said {urls!r})")
        yield urls
    finally:
        fake.stdin.close()
        fake.wait(timeout=30)


@contextlib.contextmanager
def fake_exchange() -> Iterator[str]:
    """One fake exchange (``fake_exchanges``): its URL."""
    with fake_exchanges() as (url,):
        yield url


# -- 30 days of history, bulk-loaded and cached ---------------------------------------------


def floor_step(moment: datetime) -> datetime:
    return datetime.fromtimestamp(moment.timestamp() // STEP.total_seconds() * STEP.total_seconds(), UTC)


def value_pool(rng: random.Random) -> list[tuple[Any, ...]]:
    """Column values (after exchange, symbol, ts) of scored random inputs."""
    pool = []
    for _ in range(POOL):
        inputs = ScoreInputs(
            oi_1h_pct=rng.gauss(0, 1.5),
            oi_4h_pct=rng.gauss(0, 4),
            oi_24h_pct=None if rng.random() < 0.01 else rng.gauss(2, 12),
            funding_pct=rng.gauss(0.01, 0.03),
            funding_interval_h=rng.choice([1.0, 4.0, 8.0]),
            basis_pct=rng.gauss(0, 0.25),
        )
        row = score_to_row(ScoreRecord(EX, "X", datetime.now(UTC), inputs, score(inputs)))
        pool.append(tuple(row[c] for c in VALUE_COLUMNS))
    return pool


VALUE_COLUMNS = tuple(
    c.name for c in table_of(ScoreRow).c if c.name not in ("id", "exchange", "symbol", "ts", "hour")
)
# Column names from the table itself, values bound: nothing here comes from outside.
INSERT = (
    f"INSERT INTO scores (exchange, symbol, ts, hour, {', '.join(VALUE_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join('?' * (4 + len(VALUE_COLUMNS)))})"
)


def insert_steps(
    conn: Connection,
    times: list[datetime],
    pool: list[tuple[Any, ...]],
    rng: random.Random,
    exchange: str = EX,
    names: list[str] | None = None,
) -> int:
    """Scores of every symbol at ``times``, one executemany of plain tuples."""
    names = symbol_names() if names is None else names
    rows = [
        (exchange, s, stamp_of(conn, ts), hour_of(ts), *pool[rng.randrange(POOL)])
        for ts in times
        for s in names
    ]
    conn.exec_driver_sql(INSERT, rows)
    return len(rows)


def steps(first: datetime, last: datetime) -> list[datetime]:
    n = int((last - first) / STEP) + 1
    return [first + k * STEP for k in range(max(0, n))]


def build_history(conn: Connection, end: datetime, pool: list[tuple[Any, ...]], rng: random.Random) -> None:
    """``DAYS`` days of scores ending at ``end``: the first day inserted, then copied forward in SQL."""
    start = end - DAY * DAYS + STEP
    insert_steps(conn, steps(start, start + DAY - STEP), pool, rng)
    day0 = (stamp_of(conn, start), stamp_of(conn, start + DAY))
    columns = ", ".join(VALUE_COLUMNS)
    for k in range(1, DAYS):
        # Every stored time is a whole second, so this text is the one SQLAlchemy writes.
        shifted = f"strftime('%Y-%m-%d %H:%M:%S', ts, '+{k} days') || '.000000'"
        conn.exec_driver_sql(
            f"INSERT INTO scores (exchange, symbol, ts, hour, {columns}) "  # noqa: S608 (our own column names)
            f"SELECT exchange, symbol, {shifted}, hour + {24 * k}, {columns} "
            "FROM scores WHERE exchange = ? AND ts >= ? AND ts < ?",
            (EX, *day0),
        )
        conn.commit()
        if k % 5 == 4:
            log(f"  history: {k + 1}/{DAYS} days")


def stamp_of(conn: Connection, moment: datetime) -> Any:
    """``moment`` as SQLAlchemy stores it in ``scores.ts`` on this dialect."""
    stamp = table_of(ScoreRow).c.ts.type.bind_processor(conn.dialect)
    return moment if stamp is None else stamp(moment)


@dataclass
class History:
    path: Path
    rows: int
    built_s: float
    how: str


def prepare_history(cache_dir: Path) -> History:
    """The cached database, built or topped up so its history ends at the current time."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"scores-{head_revision()}-{SYMBOLS}x{DAYS}d.sqlite3"
    began = time.perf_counter()
    end = floor_step(datetime.now(UTC)) - STEP
    rng = random.Random(17)
    pool = value_pool(rng)
    storage = open_storage(f"sqlite:///{path}")  # migrates a new file; a cached one is at head
    try:
        with storage.engine.connect() as conn:
            newest = conn.execute(select(func.max(ScoreRow.ts)).where(ScoreRow.exchange == EX)).scalar()
            if newest is None or end - newest > DAY * DAYS:
                conn.exec_driver_sql("DELETE FROM scores")
                conn.commit()
                log(f"building {DAYS} days of scores for {SYMBOLS} symbols in {path}")
                build_history(conn, end, pool, rng)
                how = "built"
            else:
                gap = steps(floor_step(newest) + STEP, end)
                for first in range(0, len(gap), 288):
                    insert_steps(conn, gap[first : first + 288], pool, rng)
                    conn.commit()
                conn.exec_driver_sql(
                    "DELETE FROM scores WHERE exchange = ? AND ts < ?", (EX, stamp_of(conn, end - DAY * DAYS))
                )
                conn.commit()
                how = f"cached, topped up by {len(gap)} steps"
            # A run stopped mid-way leaves its collector lease: this run must collect at once.
            conn.exec_driver_sql("DELETE FROM leases")
            conn.commit()
            rows = int(conn.exec_driver_sql("SELECT COUNT(*) FROM scores").scalar_one())
    finally:
        storage.close()
    return History(path, rows, time.perf_counter() - began, how)


# -- baseline: the read path before this change -----------------------------------------------


class ReadPathBefore(SqlScoreStore):
    """``latest_scores`` and ``score_card`` as they were: ORM rows, the window's pairs read."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self._before = sessions

    def latest_scores(
        self,
        exchange: str,
        *,
        since: datetime,
        bias: Bias | None = None,
        regimes: Collection[Regime] | None = None,
        limit: int | None = None,
    ) -> list[ScoreRecord]:
        newest = select(func.max(ScoreRow.ts)).where(ScoreRow.exchange == exchange)
        with transaction(self._before, "read the latest scores") as session:
            end = session.scalar(newest)
            if end is None or end < since:
                return []
            times = newest_in_window(session, ScoreRow, exchange, start=since, end=end)
            where = []
            if bias is not None:
                where.append(ScoreRow.bias == bias.value)
            if regimes is not None:
                where.append(ScoreRow.regime.in_([r.value for r in regimes]))
            rows = rows_at(session, ScoreRow, exchange, times, where)
        rows.sort(key=lambda row: (-row.score, row.symbol))
        return [row_to_score(row) for row in rows[:limit]]

    def score_card(self, exchange: str, symbol: str, *, tolerance: timedelta) -> ScoreCard | None:
        def at(session: Session, moment: datetime) -> ScoreRow | None:
            return session.scalar(
                select(ScoreRow)
                .where(
                    ScoreRow.exchange == exchange,
                    ScoreRow.symbol == symbol,
                    ScoreRow.ts <= moment,
                    ScoreRow.ts >= moment - tolerance,
                )
                .order_by(ScoreRow.ts.desc())
                .limit(1)
            )

        newest = (
            select(ScoreRow)
            .where(ScoreRow.exchange == exchange, ScoreRow.symbol == symbol)
            .order_by(ScoreRow.ts.desc())
            .limit(1)
        )
        with transaction(self._before, "read a score card") as session:
            latest = session.scalar(newest)
            if latest is None:
                return None
            hour_ago, day_ago = at(session, latest.ts - HOUR), at(session, latest.ts - DAY)
        return ScoreCard(
            latest=row_to_score(latest),
            hour_ago=None if hour_ago is None else row_to_score(hour_ago),
            day_ago=None if day_ago is None else row_to_score(day_ago),
        )


def console_before(app: App, out: TextIO, charts: Path) -> tuple[ConsoleAdapter, CommandLayer]:
    """A console over a command layer like ``app``'s whose score store reads as before."""
    storage = app.collector.storage
    s = app.settings
    commands = CommandLayer(
        CommandPorts(
            chats=storage.chats,
            scores=ReadPathBefore(session_factory(storage.engine)),
            snapshots=storage.snapshots,
            outbox=storage.outbox,
        ),
        exchange=app.collector.exchange,
        source_label=None,
        admin_ids=s.admin_ids,
        band_floors=s.scoring.to_params().band_floors,
        collect_interval=timedelta(seconds=s.collect_interval),
    )
    return ConsoleAdapter(commands, app.clock, out=out, chart_dir=charts), commands


# -- the measured run ----------------------------------------------------------------------


@dataclass
class Call:
    command: str
    seconds: float
    cycle: bool
    full_gc: bool
    loop_reads: int  # statements on the event loop's thread during the call
    lag: float  # how much later than asked the loop resumed the bench before the call
    cpu: float  # the thread's CPU time during the call: what another process's load cannot inflate


@dataclass
class Phase:
    name: str
    calls: list[Call] = field(default_factory=list)
    cycles: int = 0
    full_gcs: list[float] = field(default_factory=list)
    seconds: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average, start and end
    tracked: int = 0  # objects a full collection traverses, at the phase's end


class Watch:
    """When cycles and full collections ran (``perf_counter`` spans)."""

    def __init__(self) -> None:
        self.cycles: list[tuple[float, float]] = []
        self.cycle_started: float | None = None
        self.gcs: list[tuple[float, float]] = []
        self._gc_started: float | None = None
        self.unstored = 0  # venue cycles of a round that stored nothing (three venues)
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started is not None:
            self.gcs.append((self._gc_started, time.perf_counter()))
            self._gc_started = None

    def close(self) -> None:
        gc.callbacks.remove(self._on_gc)

    def overlaps_cycle(self, start: float, end: float) -> bool:
        if self.cycle_started is not None:
            return True
        return any(a < end and b > start for a, b in self.cycles[-3:])

    def gc_in(self, start: float, end: float) -> bool:
        return any(a >= start and b <= end for a, b in self.gcs[-3:])


CALLING: contextvars.ContextVar[bool] = contextvars.ContextVar("CALLING", default=False)
"""Set by the bench's task around a call: a statement the cycle's tasks send on the loop
meanwhile (their contexts were copied before) is not the call's."""


class LoopStatements:
    """Counts the statements a call sends on the event loop's thread (the thread that built it)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._thread = threading.get_ident()
        self._count = 0
        event.listen(engine, "before_cursor_execute", self._sent)

    def _sent(self, *_: object) -> None:
        if threading.get_ident() == self._thread and CALLING.get():
            self._count += 1

    def take(self) -> int:
        """The statements counted since the last call."""
        count, self._count = self._count, 0
        return count

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._sent)


async def run_cycles(process: Process, watch: Watch, stop: asyncio.Event, gap_s: float) -> None:
    while not stop.is_set():
        watch.cycle_started = time.perf_counter()
        await process.cycle()
        await process.deliver()
        watch.cycles.append((watch.cycle_started, time.perf_counter()))
        watch.cycle_started = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), gap_s)


async def phase(
    name: str,
    console: ConsoleAdapter,
    commands: CommandLayer,
    calls: int,
    watch: Watch,
    rng: random.Random,
    *,
    sent: tuple[str, ...] = COMMANDS,
    names: list[str] | None = None,
    shown: str | None = None,
    card_has: tuple[str, ...] = (),
    engine: Engine,
) -> Phase:
    """``calls`` of each command of ``sent`` in turn (``/score`` of a random one of ``names``);
    ``shown`` (default: the first venue) is the market prepared before the first call."""
    queries = commands.queries
    result = Phase(name)
    cycles_before, gcs_before = len(watch.cycles), len(watch.gcs)
    names = symbol_names() if names is None else names
    check(queries.market(shown) is not None, "the market is prepared before the calls")
    statements = LoopStatements(engine)
    began = time.perf_counter()
    load = os.getloadavg()[0]
    for i in range(calls * len(sent)):
        command = sent[i % len(sent)]
        line = f"/score {rng.choice(names)}" if command == "/score" else command
        pause = rng.uniform(0, MAX_PAUSE_S)
        asked = time.perf_counter()
        await asyncio.sleep(pause)
        statements.take()
        calling = CALLING.set(True)
        c0, t0 = time.thread_time(), time.perf_counter()
        answer = await console.handle_line(line)
        t1, c1 = time.perf_counter(), time.thread_time()
        CALLING.reset(calling)
        expected = ("Top 10",) if command.startswith("/top") else (line.split()[1], *card_has)
        check(
            answer is not None and all(e in answer for e in expected) and "No score" not in answer,
            f"{line}: {answer!r}",
        )
        loop_reads = statements.take()
        result.calls.append(
            Call(
                command,
                t1 - t0,
                watch.overlaps_cycle(t0, t1),
                watch.gc_in(t0, t1),
                loop_reads,
                t0 - asked - pause,
                c1 - c0,
            )
        )
    statements.close()
    result.seconds = time.perf_counter() - began
    result.tracked = len(gc.get_objects())
    result.load = (load, os.getloadavg()[0])
    result.cycles = len(watch.cycles) - cycles_before
    result.full_gcs = [b - a for a, b in watch.gcs[gcs_before:]]
    return result


@dataclass
class Run:
    history: History
    startup_s: float = 0.0
    frozen: int = 0
    phases: list[Phase] = field(default_factory=list)
    cycle_s: list[float] = field(default_factory=list)
    market_symbols: int = 0
    rows_end: int = 0


@dataclass
class Startup:
    """What ``dps run``'s start-up did in the bench's process."""

    seconds: float = 0.0
    frozen: int = 0
    market_symbols: int = 0


def production_settings(url: str, history: History, **overrides: Any) -> Settings:
    """The settings of the bench's ``dps run``: the cached history, the fake exchange at ``url``."""
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{history.path}",
        "exchange": EX,
        "exchange_api_url": url,
        "symbols": [],
        "universe_top_n": None,
        "collect_interval": 300,
        "telegram_bot_token": None,
        "discord_bot_token": None,
    }
    return load_settings(**(values | overrides))


@contextlib.asynccontextmanager
async def started_app(
    settings: Settings, tmp: Path, out: TextIO, startup: Startup
) -> AsyncIterator[tuple[App, Process]]:
    """The app built and started as ``dps run`` does (role ``all``, console chat, backfill, the
    first cycle, ``gc_policy.after_start()``); its leases released and the app closed on exit."""
    began = time.perf_counter()
    app = build_app(
        settings,
        clock=SystemClock(),
        role=Role.ALL,
        out=out,
        chart_dir=tmp / "charts",
        tuning=SourceTuning(rate_limit_ms=RATE_LIMIT_MS, budget_scale=BUDGET_SCALE),
    )
    process = Process(app, backfill=True)
    try:
        app.collector.storage.chats.ensure_chat(  # as dps run does for the console chat
            app.console.chat,
            kind=ChatKind.PRIVATE,
            now=app.clock.now(),
            timezone=settings.digest_timezone,
            defaults=ChatSettings(digest_enabled=True, digest_time=settings.digest_time),
        )
        # dps run's start-up: markets, backfill, the first cycle, then gc_policy.after_start().
        await process.cycle()
        startup.seconds = time.perf_counter() - began
        startup.frozen = gc.get_freeze_count()
        check(startup.frozen > 0, "dps run's start-up froze the start-up objects")
        market = app.commands.queries.market()
        if market is None:
            raise RuntimeError("bench sanity check failed: the first cycle stored scores")
        startup.market_symbols = len(market.records)
        check(
            {r.symbol for r in market.records} == set(symbol_names()),
            "the live cycle's symbols are the history's",
        )
        log(f"start-up done in {startup.seconds:.0f} s: {startup.frozen:,} frozen; {app.last_cycle.line}")
        yield app, process
    finally:
        process.release_leases()
        await app.close()


async def measure(url: str, history: History, tmp: Path, out: TextIO, gap_s: float) -> Run:
    run = Run(history)
    startup = Startup()
    watch = Watch()
    try:
        async with started_app(production_settings(url, history), tmp, out, startup) as (app, process):
            run.startup_s, run.frozen, run.market_symbols = (
                startup.seconds,
                startup.frozen,
                startup.market_symbols,
            )
            stop = asyncio.Event()
            cycles = asyncio.create_task(run_cycles(process, watch, stop, gap_s))
            rng = random.Random(5)
            try:
                before, before_commands = console_before(app, out, tmp / "charts")
                for name, console, commands, calls in (
                    ("a", app.console, app.commands, CALLS),
                    ("b", before, before_commands, OTHER_CALLS),
                    ("c", app.console, app.commands, OTHER_CALLS),
                ):
                    if name == "c":
                        gc.unfreeze()
                    log(f"phase ({name}): {calls} calls per command")
                    run.phases.append(
                        await phase(
                            name, console, commands, calls, watch, rng, engine=app.collector.storage.engine
                        )
                    )
            finally:
                stop.set()
                await cycles
            run.cycle_s = [b - a for a, b in watch.cycles]
            with app.collector.storage.engine.connect() as conn:
                run.rows_end = int(conn.execute(text("SELECT COUNT(*) FROM scores")).scalar_one())
    finally:
        watch.close()
    return run


# -- three venues and their aggregate -----------------------------------------------------------

VENUES = ("binanceusdm", "bybit", "okx")
VENUE_COMMANDS = ("/top", "/top bybit", "/score")
VENUE_CALLS = 400  # per command
VENUE_HISTORY = DAY + HOUR  # the card's 24h-before score is there, as in the 30 days


def venue_names(exchange: str) -> list[str]:
    """The generated perpetuals as each venue's symbols are stored (the aggregate's: assets)."""
    bases = [f"S{n:03d}" for n in range(SYMBOLS)]
    if exchange == AGGREGATE_EXCHANGE:
        return bases
    if exchange == "okx":
        return [f"{b}-USDT-SWAP" for b in bases]
    return [f"{b}USDT" for b in bases]


def venue_history(path: Path) -> History:
    """A fresh database holding ``VENUE_HISTORY`` of 5-minute scores of every venue and of the
    aggregate: the reads of /top and /score seek a few hours of one symbol or read the latest
    cycle, whatever the depth of the history behind them."""
    began = time.perf_counter()
    rng = random.Random(18)
    pool = value_pool(rng)
    end = floor_step(datetime.now(UTC)) - STEP
    times = steps(end - VENUE_HISTORY, end)
    storage = open_storage(f"sqlite:///{path}")
    try:
        with storage.engine.connect() as conn:
            for exchange in (*VENUES, AGGREGATE_EXCHANGE):
                insert_steps(conn, times, pool, rng, exchange, venue_names(exchange))
                conn.commit()
            rows = int(conn.exec_driver_sql("SELECT COUNT(*) FROM scores").scalar_one())
    finally:
        storage.close()
    return History(path, rows, time.perf_counter() - began, "built")


async def run_rounds(process: Process, watch: Watch, stop: asyncio.Event, gap_s: float) -> None:
    """As the schedule runs several venues: each venue's cycle as a task of its own, then the
    aggregate's once they stored, then delivery; ``gap_s`` between rounds."""
    while not stop.is_set():
        watch.cycle_started = time.perf_counter()
        before = [process.app.last_cycle.of(c.exchange) for c in process.app.collectors]
        await asyncio.gather(*(process.venue_cycle(c) for c in process.app.collectors))
        after = [process.app.last_cycle.of(c.exchange) for c in process.app.collectors]
        watch.unstored += sum(a == b for a, b in zip(before, after, strict=True))
        await process.aggregate_cycle()
        await process.deliver()
        watch.cycles.append((watch.cycle_started, time.perf_counter()))
        watch.cycle_started = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), gap_s)


@dataclass
class VenueRun:
    history: History
    phase: Phase
    startup_s: float = 0.0
    round_s: list[float] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    unstored: int = 0


async def measure_venues(urls: list[str], tmp: Path, out: TextIO, gap_s: float) -> VenueRun:
    history = venue_history(tmp / "venues.sqlite3")
    log(f"three venues: {history.rows:,} rows of history in {history.built_s:.0f} s")
    settings = load_settings(
        database_url=f"sqlite:///{history.path}",
        exchanges=",".join(VENUES),
        exchange_api_urls=dict(zip(VENUES, urls, strict=True)),
        symbols=[],
        universe_top_n=None,
        collect_interval=300,
        telegram_bot_token=None,
        discord_bot_token=None,
    )
    watch = Watch()
    began = time.perf_counter()
    app = build_app(
        settings,
        clock=SystemClock(),
        role=Role.ALL,
        out=out,
        chart_dir=tmp / "charts",
        tuning=SourceTuning(rate_limit_ms=RATE_LIMIT_MS, budget_scale=BUDGET_SCALE),
    )
    # No backfill: three venues' 24 h of OI history take minutes to fetch, and what is
    # measured reads scores only (the scores are partial, their cost the same).
    process = Process(app)
    try:
        app.collector.storage.chats.ensure_chat(
            app.console.chat,
            kind=ChatKind.PRIVATE,
            now=app.clock.now(),
            timezone=settings.digest_timezone,
            defaults=ChatSettings(digest_enabled=True, digest_time=settings.digest_time),
        )
        # Start-up: each venue's markets and first cycle, then the aggregate's, then the GC
        # set up as dps run's start-up leaves it. One venue after another here: three first
        # cycles storing at once on a loaded machine can outwait SQLite's busy timeout, and
        # the leg needs every venue in the aggregate from its start.
        for collector in app.collectors:
            await process.venue_cycle(collector)
            check(
                app.last_cycle.of(collector.exchange) is not None, f"{collector.exchange}: first cycle stored"
            )
        await process.aggregate_cycle()
        gc_policy.after_start()
        startup_s = time.perf_counter() - began
        queries = app.commands.queries
        for exchange in (*VENUES, AGGREGATE_EXCHANGE):
            market = queries.market(exchange)
            check(
                market is not None and {r.symbol for r in market.records} == set(venue_names(exchange)),
                f"{exchange}: the live cycle's symbols are the history's",
            )
        lines = [app.last_cycle.of(v) or f"{v}: no cycle" for v in VENUES]
        log(f"three venues: start-up done in {startup_s:.0f} s")
        stop = asyncio.Event()
        rounds = asyncio.create_task(run_rounds(process, watch, stop, gap_s))
        try:
            log(f"phase (v): {VENUE_CALLS} calls per command")
            measured = await phase(
                "v",
                app.console,
                app.commands,
                VENUE_CALLS,
                watch,
                random.Random(6),
                sent=VENUE_COMMANDS,
                names=venue_names(AGGREGATE_EXCHANGE),
                shown=AGGREGATE_EXCHANGE,
                card_has=("By venue",),  # the aggregate's card, with its venues' lines
                engine=app.collector.storage.engine,
            )
        finally:
            stop.set()
            await rounds
    finally:
        watch.close()
        process.release_leases()
        await app.close()
    return VenueRun(history, measured, startup_s, [b - a for a, b in watch.cycles], lines, watch.unstored)


# -- the report ----------------------------------------------------------------------------

TITLES = {
    "/top": "`/top`",
    "/top bybit": "`/top bybit`",
    "/top short": "`/top short`",
    "/score": "`/score SYMBOL`",
}
PHASES = {
    "a": "(a) as `dps run` is",
    "b": "(b) baseline: read path before",
    "c": "(c) GC unfrozen",
    "v": "(v) three venues",
}


def rows_of(ph: Phase, sent: tuple[str, ...] = COMMANDS) -> Iterator[str]:
    for command in sent:
        calls = [c for c in ph.calls if c.command == command]
        times = [c.seconds for c in calls]
        reading = [c.seconds for c in calls if c.loop_reads]
        reread = f"{len(reading)} (max {ms(max(reading))})" if reading else "0"
        quiet = [c.seconds for c in calls if not c.cycle]
        yield (
            f"| {PHASES[ph.name]} | {TITLES[command]} | {len(calls)} | {ms(median(times))} | "
            f"{ms(p(times, 0.99))} | {ms(max(times))} | {sum(c.cycle for c in calls)} | "
            f"{ms(p(quiet, 0.99)) if quiet else '—'} | {ms(p([c.cpu for c in calls], 0.99))} | "
            f"{sum(c.full_gc for c in calls)} | {reread} |"
        )


def verdict(command: str, ph: Phase, *, waited: bool = False) -> str:
    """The p99 verdict of the command layer's time, or (``waited``) of arrival to answer."""
    times = [c.seconds + (c.lag if waited else 0.0) for c in ph.calls if c.command == command]
    p99 = p(times, 0.99)
    what = f"{TITLES[command]} p99 under {TARGET_S * 1000:.0f} ms in production conditions"
    what += ", from arrival to answer (the wait for the event loop included)" if waited else ""
    if p99 < TARGET_S:
        return f"Verdict: {what} — **met** ({ms(p99)})."
    return f"Verdict: {what} — **missed by {ms(p99 - TARGET_S)}** ({ms(p99)})."


def venue_report(run: VenueRun, gap_s: float) -> str:
    ph = run.phase
    table = [
        "| phase | command | calls | p50 | p99 | max | overlapped a round | p99 of the others "
        "| p99 CPU time | with a full GC | read on the loop |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows_of(ph, VENUE_COMMANDS),
    ]
    verdicts = "\n".join(
        [*(verdict(c, ph) for c in VENUE_COMMANDS), *(verdict(c, ph, waited=True) for c in VENUE_COMMANDS)]
    ).replace("in production conditions", "with three venues")
    lags = [c.lag for c in ph.calls]
    return f"""### With three venues and their aggregate

`dps run` with `EXCHANGES={",".join(VENUES)}` (role `all`, console chat) against three
fake exchanges in a child process, one per venue, each serving the same {SYMBOLS} perpetuals
(stored as `S000USDT` on Binance and Bybit, `S000-USDT-SWAP` on OKX, the asset `S000` in
the aggregate `all`); start-up as `dps run` runs it but without the backfill (each venue's
markets and first cycle, then the aggregate's, then `gc_policy.after_start()`; the scores
are partial, read at the same cost), {run.startup_s:.0f} s. A fresh SQLite file
holds {VENUE_HISTORY.total_seconds() / 3600:.0f} h of 5-minute scores of each venue and of
the aggregate ({run.history.rows:,} rows; the reads seek a few hours of one symbol or read
the latest cycle, so the depth of history behind them does not change them). Then rounds
run in the same event loop as the schedule runs them (each venue's cycle as a task of its
own, the aggregate's once they stored, delivery), a {gap_s:g} s pause after each
({len(run.round_s)} rounds, median {median(run.round_s):.1f} s; {run.unstored} of their
{len(run.round_s) * len(VENUES)} venue cycles stored nothing), while `/top` (the
aggregate's table), `/top bybit` and `/score <random asset>` (the aggregate's card with a
line per venue: their scores and OI shares from this process's aggregate) are sent in
turn, each after a random pause of up to {MAX_PAUSE_S * 1000:.0f} ms. Columns as above; the
load average went {ph.load[0]:.1f} → {ph.load[1]:.1f}; the bench's pauses resumed late by
p50 {ms(median(lags))}, p99 {ms(p(lags, 0.99))}.

{chr(10).join(table)}

{verdicts}
"""


def report(run: Run, elapsed_s: float, gap_s: float) -> str:
    h = run.history
    a = run.phases[0]
    table = [
        "| phase | command | calls | p50 | p99 | max | overlapped a cycle | p99 of the others "
        "| p99 CPU time | with a full GC | read on the loop |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ph in run.phases:
        table.extend(rows_of(ph))
    gcs = "; ".join(
        f"({ph.name}) {len(ph.full_gcs)} full collections"
        + (f", median {ms(median(ph.full_gcs))}, max {ms(max(ph.full_gcs))}" if ph.full_gcs else "")
        for ph in run.phases
    )
    verdicts = "\n".join(
        [*(verdict(c, a) for c in COMMANDS), *(verdict(c, a, waited=True) for c in COMMANDS)]
    )
    lags = [c.lag for c in a.calls]
    loads = "; ".join(f"({ph.name}) {ph.load[0]:.1f} → {ph.load[1]:.1f}" for ph in run.phases)
    working_interval_ms = min(sys.getswitchinterval(), SWITCH_INTERVAL_S) * 1000
    return f"""## `/top` and `/score` in production conditions (500 symbols, 30 days)

The app built as `dps run` builds it (role `all`, console chat) against the fake exchange
serving {SYMBOLS} Binance USD-M perpetuals from a child process; start-up as `dps run` runs
it: markets loaded, 24 h of OI backfilled, the first cycle, then `bot.gc_policy.after_start()`
(collect, then freeze: {run.frozen:,} objects frozen; {a.tracked:,} tracked at the end
of phase (a), what a full collection then traverses; {run.phases[-1].tracked:,} after
`gc.unfreeze()` in (c)), {run.startup_s:.0f} s in all. The SQLite file holds {DAYS} days of 5-minute scores
for the same {SYMBOLS} symbols ({h.rows:,} rows at the start, {run.rows_end:,} at the end;
{h.how}, {h.built_s:.0f} s). Then cycles run in the same event loop, a {gap_s:g} s pause
after each ({len(run.cycle_s)} cycles, median {median(run.cycle_s):.1f} s each: fetch of
{SYMBOLS} symbols, score, store), while `/top`, `/top short` and `/score <random symbol>` are
sent in turn, each after a random pause of up to {MAX_PAUSE_S * 1000:.0f} ms.

Timed: `ConsoleAdapter.handle_line`, i.e. the command layer (rate limit, registry handler,
store reads) plus the reply document and its plain text: every chat command's path except
the platform's send. "Overlapped a cycle": a cycle was in flight during the call (awaiting
the exchange, or a step running in its worker thread). "With a full GC": a generation-2
collection ran during the call. "Read on the loop": calls that sent a statement on the
event loop's thread themselves (the store's mark checked, or the market read), and the
slowest of them; the markets are prepared off the loop, after each cycle
(`Queries.refresh`) or when one is due for a check (`Queries.current`: a check in a worker
thread every 2 s at most, awaited only by a command finding the last one 10 s old).

{chr(10).join(table)}

Full collections: {gcs}. The machine's load average (1 minute, {os.cpu_count()} cores) at the
start and end of each phase: {loads}. "p99 CPU time" is the calling thread's CPU time
(`time.thread_time`) per call: the work itself, without the time other processes took
the core.

Not timed above: the wait for the event loop. The bench's own pauses resumed late by
p50 {ms(median(lags))}, p99 {ms(p(lags, 0.99))}, max {ms(max(lags))} in phase (a). The cycle's
reads, scoring, diff, messages and transaction run in a worker thread (`bot.app.off_loop`),
one step at a time, and the exchange client (its requests, the parsing of the answers, the
snapshots built from them) on an event loop of its own in another thread
(`bot.collector.loop_thread`); what still holds the loop is the work between the cycle's
steps and the GIL: while another thread computes in Python, the loop's thread gets the
interpreter back within the switch interval ({sys.getswitchinterval() * 1000:g} ms; while a step
runs in the worker thread `off_loop` shortens it to {working_interval_ms:g} ms).
Another process taking the core (a loaded machine,
the fake exchange answering) delays the loop as well. A command arriving then waits: a
user waits for both, so the last three verdicts add that wait to each call (arrival to
answer), the first three do not.

{verdicts}

Baseline (b): the same calls, same process and moment, through a command layer whose score
store reads as before this change (ORM rows, the window's (symbol, ts) pairs read and
the newest per symbol picked in Python). Phase (c) calls `gc.unfreeze()` first: a process
that never froze (`dps run` froze before loading the markets and backfilling until this
change, between the two). The script (`bench/bench_queries.py`) ran for {elapsed_s / 60:.1f} minutes.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycle-gap", type=float, default=CYCLE_GAP_S, help="seconds between cycles")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "dps-bench-queries",
        help="where the history database is kept between runs",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        metavar="MS",
        help="an experiment: sys.setswitchinterval(MS / 1000) instead of what dps run has; "
        "the section is printed, not written to the results",
    )
    parser.add_argument(
        "--legs",
        type=lambda text: sorted(set(text.split(","))),
        default=["one", "three"],
        help="one,three (default): the single venue's phases, the three venues' leg",
    )
    parser.add_argument("--serve-fakes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    malloc_arenas.tune()  # as ``bot.runner.run`` does before it builds the app
    if args.serve_fakes:
        serve_fakes(args.serve_fakes)
        return
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval / 1000)
    began = time.perf_counter()
    parts = []
    if "one" in args.legs:
        history = prepare_history(args.cache_dir)
        log(f"history: {history.rows:,} rows ({history.how}) in {history.built_s:.0f} s")
        with (
            fake_exchange() as url,
            tempfile.TemporaryDirectory(prefix="dps-bench-queries-") as tmp,
            open(os.devnull, "w", encoding="utf-8") as out,
        ):
            run = asyncio.run(measure(url, history, Path(tmp), out, args.cycle_gap))
        parts.append(report(run, time.perf_counter() - began, args.cycle_gap))
    if "three" in args.legs:
        with (
            fake_exchanges(len(VENUES)) as urls,
            tempfile.TemporaryDirectory(prefix="dps-bench-queries-") as tmp,
            open(os.devnull, "w", encoding="utf-8") as out,
        ):
            venues = asyncio.run(measure_venues(urls, Path(tmp), out, args.cycle_gap))
        parts.append(venue_report(venues, args.cycle_gap))
    text = "\n".join(parts)
    print(text)
    # An experiment is not what dps run does, and a leg alone is not the whole section.
    if args.switch_interval is None and len(args.legs) == 2:
        write_section("queries", text)


if __name__ == "__main__":
    main()
