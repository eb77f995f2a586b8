"""Target: three venues x 500 symbols collected together no slower than 1.2x the slowest venue alone.

Measured as ``dps run`` collects them by default (``VENUE_PROCESSES=per-venue``): each venue
in a process of its own, built exactly as ``bot.venue_children`` builds its children (the
parent's settings through ``child_settings``: every venue known, one collected). The three
in one process (``VENUE_PROCESSES=one``) are measured beside it, as a figure.

Setup: three fake exchanges (``tests/fakes/exchange``), one per venue (Binance USD-M, Bybit
v5, OKX v5), each serving 500 USDT perpetuals with 50 ms injected latency, enforcing that
venue's published limits with its own refusals and recording every request (arrival time,
weight) and, here, when its answer left. Each runs in a child process of its own: the
exchanges are other machines, so their server work must not compete with the bot's
threads for this process's interpreter lock, nor one exchange's with another's.

The bot side is what ``dps run --role collector`` builds for
``EXCHANGES=binanceusdm,bybit,okx`` (``build_app``: one ``CcxtSource`` per venue, each on
its own loop thread, default tuning, its own lease) over a fresh, migrated SQLite
database, with the garbage collector set up as ``dps run`` sets it before its schedule
starts (``gc_policy.after_start``), and the cycles are driven as the schedule drives them: each venue's
``Process.venue_cycle`` as a task of its own, all started at once. Markets are loaded
before the round (start-up work, not a cycle's), so the round is each venue's first cycle:
fetch, score, diff and one stored transaction.

Legs, interleaved (``--rounds`` times, the order reversed every other round): each venue
alone (``EXCHANGES=<venue>``), the three in one process, then the three each in a child's
configuration and process, each leg on fresh fakes, sources and database. Measured from
the fakes' logs: a venue's requests span from its cycle's first request arriving to its
last answer leaving; the round together spans from the first request at any fake to the
last answer of any; the peak weight (Binance) or requests
(Bybit, OKX) in any window of the venue's limit, against its published budget, and the
refusals. From the bot's side: each cycle's wall time including storing.

Baseline: the three venues one after another in one loop, i.e. the sum of their times alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web

from bench.common import verdict, write_section
from bot import gc_policy, malloc_arenas
from bot.bootstrap import SourceTuning, SystemClock, build_app
from bot.config import Settings, load_settings
from bot.roles import Role
from bot.runner import Process
from bot.venue_children import child_settings
from tests.fakes.exchange import FakeExchange, FakeMarket

SYMBOLS = 500
LATENCY_S = 0.050  # as bench_collector.py, whose venues alone this bench sets beside each other
RATIO_TARGET = 1.2
# In the order EXCHANGES lists them. bench_collector is imported by the fakes' process only:
# it imports ccxt in full, which the bot's process must not (bot.collector.ccxt_loading).
NAMES = {"binanceusdm": "Binance USD-M", "bybit": "Bybit", "okx": "OKX"}
SCORED = re.compile(r"\bscored=(\d+)")
FIGURE = re.compile(r"\(([^()]*)\)\.$")


# -- the fakes, in a child process -------------------------------------------------------


class TimedFake(FakeExchange):
    """A fake exchange that also records when each answer left (``time.monotonic()``)."""

    def __init__(self, market: FakeMarket, latency_s: float) -> None:
        super().__init__(market, latency_s=latency_s)
        self.ends: list[float] = []

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await super()._handle(request)
        finally:
            self.ends.append(time.monotonic())


@dataclass(frozen=True)
class VenueLog:
    """One fake's record of a leg, from ``since`` on (the round) and over the whole leg (limits)."""

    first: float  # the round's first request arrived
    last_end: float  # the round's last answer left
    requests: int
    weight: int
    peak: float  # the highest share of a published budget in any window, over the whole leg
    peak_text: str
    refusals: int

    @property
    def span(self) -> float:
        return self.last_end - self.first


def venue_log(venue: Any, fake: TimedFake, since: float) -> VenueLog:
    """``venue`` is a ``bench_collector.Venue``: its limits are read the way that bench reads them."""
    from bench.bench_collector import peak_share

    records = [r for r in fake.requests if r.t >= since]
    ends = [t for t in fake.ends if t >= since]
    if not records or not ends:
        raise RuntimeError(f"{venue.name}: no request after the round began")
    peak, text = peak_share(venue, fake)
    return VenueLog(
        first=min(r.t for r in records),
        last_end=max(ends),
        requests=len(records),
        weight=sum(r.weight for r in records),
        peak=peak,
        peak_text=text,
        refusals=len(fake.refusals),
    )


def host_fake(conn: Connection, exchange: str) -> None:
    """A child process serving one venue's fake: ``start`` serves a fresh one, ``stop <since>``
    returns its log (nothing when it was not asked)."""
    asyncio.run(_host(conn, exchange))


async def _host(conn: Connection, exchange: str) -> None:
    from bench.bench_collector import VENUES

    venue = next(v for v in VENUES if v.exchange == exchange)
    loop = asyncio.get_running_loop()
    fake: TimedFake | None = None
    while True:
        command, arg = await loop.run_in_executor(None, conn.recv)
        if command == "start":
            fake = TimedFake(FakeMarket.generated(SYMBOLS), LATENCY_S)
            await fake.start()
            conn.send({exchange: fake.url})
        elif command == "stop":
            if fake is None:
                raise RuntimeError(f"{exchange}: stop before start")
            logs = {exchange: venue_log(venue, fake, arg)} if fake.requests else {}
            await fake.stop()
            conn.send(logs)
        else:
            return


class Fakes:
    """The parent's handle on the fakes: one child process per venue, as each exchange is a
    service of its own (sharing one process, Bybit's and OKX's answers would queue Binance's
    behind them on one interpreter lock: a cost no real exchange puts on another)."""

    def __init__(self) -> None:
        from bench.bench_collector import VENUES

        context = multiprocessing.get_context("spawn")
        self._hosts: list[tuple[Connection, Any]] = []
        for venue in VENUES:
            conn, child = context.Pipe()
            process = context.Process(
                target=host_fake, args=(child, venue.exchange), name=f"fake-{venue.exchange}", daemon=True
            )
            process.start()
            child.close()
            self._hosts.append((conn, process))

    async def ask(self, command: str, arg: Any = None) -> Any:
        """Every venue's answer, merged (``start``: their URLs; ``stop``: their logs)."""
        for conn, _ in self._hosts:
            conn.send((command, arg))
        answers = await asyncio.gather(*(asyncio.to_thread(conn.recv) for conn, _ in self._hosts))
        return {key: value for answer in answers for key, value in answer.items()}

    def close(self) -> None:
        for conn, _ in self._hosts:
            conn.send(("quit", None))
        for _, process in self._hosts:
            process.join(10)


# -- the bot side ------------------------------------------------------------------------


@dataclass(frozen=True)
class Leg:
    """One leg: the venues collected, each one's cycle wall time, the round, the fakes' logs."""

    venues: tuple[str, ...]
    cycle_s: dict[str, float]  # venue_cycle's wall time: fetch, score, diff, store
    round_s: float  # the first cycle's start to the last one's end (bot side)
    cpu_s: float  # the bot's process (every thread) in that time
    logs: dict[str, VenueLog]
    scored: dict[str, int]
    separate: bool = False  # each venue in a collector process of its own
    rss_mb: dict[str, tuple[float, float]] = field(default_factory=dict)  # venue: (end, peak)

    @property
    def requests_round_s(self) -> float:
        """From the first request at any fake to the last answer leaving any."""
        return max(x.last_end for x in self.logs.values()) - min(x.first for x in self.logs.values())


async def leg(fakes: Fakes, venues: tuple[str, ...], db: Path, tuning: SourceTuning | None = None) -> Leg:
    urls: dict[str, str] = await fakes.ask("start")
    settings = load_settings(
        database_url=f"sqlite:///{db}",
        exchanges=",".join(venues),
        exchange_api_urls={venue: urls[venue] for venue in venues},
        venue_processes="one",  # this process collects them all
    )
    app = build_app(settings, clock=SystemClock(), role=Role.COLLECTOR, tuning=tuning)
    process = Process(app)
    # As dps run does once its parts are built, before the schedule starts (bot.runner.run):
    # without it every full collection in the round walks ccxt's and SQLAlchemy's objects.
    gc_policy.after_start()
    cycle_s: dict[str, float] = {}
    since = 0.0
    try:
        await process.renew_leases()  # the collector leases, as dps run takes them at start
        now = app.clock.now()
        for collector in app.collectors:  # start-up: markets loaded before the first cycle
            await collector.cycle.reload_universe(now, force=True)

        async def one(venue: str) -> None:
            collector = next(c for c in app.collectors if c.exchange == venue)
            started = time.monotonic()
            await process.venue_cycle(collector)
            cycle_s[venue] = time.monotonic() - started

        since, cpu = time.monotonic(), time.process_time()
        # As the schedule runs them: a task per venue's job, none awaiting another.
        await asyncio.gather(*(asyncio.create_task(one(v)) for v in venues))
        round_s, cpu_s = time.monotonic() - since, time.process_time() - cpu
        # Each cycle's own summary line (none when it failed): every symbol fetched and scored.
        lines = {v: app.last_cycle.of(v) or "" for v in venues}
        scored = {v: int(m.group(1)) if (m := SCORED.search(line)) else 0 for v, line in lines.items()}
        if any(n != SYMBOLS for n in scored.values()):
            raise SystemExit(f"not every symbol scored: {lines}")
    finally:
        await app.close()
        logs: dict[str, VenueLog] = await fakes.ask("stop", since)
    return Leg(venues, cycle_s, round_s, cpu_s, {v: logs[v] for v in venues}, scored)


def rss_mb(name: str) -> float:
    """This process's ``VmRSS`` or ``VmHWM`` (its peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def venue_child_settings(venue: str, urls: dict[str, str], db: str) -> Settings:
    """What ``dps run`` gives its child for ``venue`` (``bot.venue_children.child_settings``)."""
    parent = load_settings(database_url=f"sqlite:///{db}", exchanges=",".join(NAMES), exchange_api_urls=urls)
    if not parent.venue_children:  # the default: a child per venue
        raise SystemExit("VENUE_PROCESSES is not per-venue here: the leg would not be dps run's")
    return load_settings(**json.loads(child_settings(parent, venue)))


def collect_as_child(conn: Connection, venue: str, urls: dict[str, str], db: str) -> None:
    """A child: one venue's collector process, configured as ``dps run``'s child for it, then
    one cycle when the parent says ``go``."""
    asyncio.run(_collect_as_child(conn, venue, urls, db))


async def _collect_as_child(conn: Connection, venue: str, urls: dict[str, str], db: str) -> None:
    # A first cycle on a database of its own, not measured: the legs in this bench's own
    # process run in an interpreter that has collected before (its imports and caches warm).
    await _one_cycle(venue_child_settings(venue, urls, f"{db}.{venue}.warm"))
    settings = venue_child_settings(venue, urls, db)
    app = build_app(settings, clock=SystemClock(), role=Role.COLLECTOR)
    if [c.exchange for c in app.collectors] != [venue] or app.aggregate is not None:
        raise SystemExit(f"{venue}'s child would collect {[c.exchange for c in app.collectors]}")
    process = Process(app)
    gc_policy.after_start()
    try:
        await process.renew_leases()
        await app.collector.cycle.reload_universe(app.clock.now(), force=True)
        conn.send("ready")
        await asyncio.to_thread(conn.recv)
        started, cpu = time.monotonic(), time.process_time()
        await process.venue_cycle(app.collector)
        ended, cpu = time.monotonic(), time.process_time() - cpu
        match = SCORED.search(app.last_cycle.of(venue) or "")
        figures = (started, ended, cpu, int(match.group(1)) if match else 0, rss_mb("VmRSS"), rss_mb("VmHWM"))
    finally:
        await app.close()
    conn.send(figures)


async def _one_cycle(settings: Settings) -> None:
    app = build_app(settings, clock=SystemClock(), role=Role.COLLECTOR)
    process = Process(app)
    try:
        await process.renew_leases()
        # Markets first, as in every leg: a cycle's own first load would backfill a day of history.
        await app.collector.cycle.reload_universe(app.clock.now(), force=True)
        await process.venue_cycle(app.collector)
    finally:
        await app.close()


async def processes_leg(fakes: Fakes, venues: tuple[str, ...], db: Path) -> Leg:
    """The venues at once, each in a collector process of its own over one database, as
    ``dps run`` starts them by default (docs/operations.md, "Several venues")."""
    from bot.storage.migrate import upgrade

    urls: dict[str, str] = await fakes.ask("start")
    upgrade(f"sqlite:///{db}")  # once, before the processes start, as a deployment's first start does
    context = multiprocessing.get_context("spawn")
    children = []
    since = 0.0
    try:
        for venue in venues:
            conn, child = context.Pipe()
            args = (child, venue, {v: urls[v] for v in venues}, str(db))
            worker = context.Process(
                target=collect_as_child, args=args, name=f"collector-{venue}", daemon=True
            )
            worker.start()
            child.close()
            children.append((venue, conn, worker))
        for _, conn, _ in children:  # every process started and its markets loaded
            await asyncio.to_thread(conn.recv)
        since = time.monotonic()
        for _, conn, _ in children:
            conn.send("go")
        figures = {venue: await asyncio.to_thread(conn.recv) for venue, conn, _ in children}
    finally:
        for _, _, worker in children:
            worker.join(30)
        logs: dict[str, VenueLog] = await fakes.ask("stop", since)
    scored = {v: f[3] for v, f in figures.items()}
    if any(n != SYMBOLS for n in scored.values()):
        raise SystemExit(f"not every symbol scored in the processes' leg: {scored}")
    return Leg(
        venues,
        {v: f[1] - f[0] for v, f in figures.items()},
        max(f[1] for f in figures.values()) - min(f[0] for f in figures.values()),
        sum(f[2] for f in figures.values()),
        {v: logs[v] for v in venues},
        scored,
        separate=True,
        rss_mb={v: (f[4], f[5]) for v, f in figures.items()},
    )


async def measure(rounds: int, tuning: SourceTuning | None = None) -> list[list[Leg]]:
    fakes = Fakes()
    out: list[list[Leg]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-venues-") as tmp:
            # The last: the three, each in a process of its own (a figure beside the target's).
            legs = [((venue,), False) for venue in NAMES] + [(tuple(NAMES), False), (tuple(NAMES), True)]
            for r in range(rounds):
                order = legs if r % 2 == 0 else legs[::-1]
                done = []
                for n, (venues, separate) in enumerate(order):
                    db = Path(tmp) / f"r{r}-{n}.sqlite3"
                    if separate:
                        done.append(await processes_leg(fakes, venues, db))
                    else:
                        done.append(await leg(fakes, venues, db, tuning))
                out.append(sorted(done, key=lambda x: legs.index((x.venues, x.separate))))
    finally:
        fakes.close()
    return out


# -- the report --------------------------------------------------------------------------


def med(values: list[float]) -> float:
    return statistics.median(values)


def seconds(values: list[float]) -> str:
    """The median, then every round's figure in the order measured."""
    return f"{med(values):.2f} s ({', '.join(f'{v:.2f}' for v in values)})"


def ratios(values: list[float]) -> str:
    return f"{med(values):.2f}× ({', '.join(f'{v:.2f}' for v in values)})"


def paired(legs: list[Leg], alone: list[dict[str, Leg]]) -> tuple[list[float], list[float]]:
    """Each round's round over its slowest venue alone: (requests, whole cycles)."""
    venues = list(NAMES)
    pairs = list(zip(legs, alone, strict=True))
    req = [x.requests_round_s / max(a[v].logs[v].span for v in venues) for x, a in pairs]
    cyc = [x.round_s / max(a[v].cycle_s[v] for v in venues) for x, a in pairs]
    return req, cyc


def report(rounds: list[list[Leg]], load: tuple[str, str]) -> str:
    venues = list(NAMES)
    alone = [{x.venues[0]: x for x in legs if len(x.venues) == 1} for legs in rounds]
    one = [next(x for x in legs if len(x.venues) > 1 and not x.separate) for legs in rounds]
    apart = [next(x for x in legs if x.separate) for legs in rounds]

    def per_venue(legs: list[Leg], venue: str, what: str) -> list[float]:
        return [x.logs[venue].span if what == "span" else x.cycle_s[venue] for x in legs]

    rows = [
        "| venue | alone: requests | alone: cycle with storing | a process each: requests | "
        "a process each: cycle with storing | one process: requests | one process: cycle with storing "
        "| requests | peak in any window vs published budget (a process each) "
        "| refused alone / a process each / one process |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for venue in venues:
        mine = [a[venue] for a in alone]
        peaks = [t.logs[venue] for t in apart]
        worst = max(peaks, key=lambda x: x.peak)
        rows.append(
            f"| {NAMES[venue]} | {seconds(per_venue(mine, venue, 'span'))} | "
            f"{seconds(per_venue(mine, venue, 'cycle'))} | {seconds(per_venue(apart, venue, 'span'))} | "
            f"{seconds(per_venue(apart, venue, 'cycle'))} | {seconds(per_venue(one, venue, 'span'))} | "
            f"{seconds(per_venue(one, venue, 'cycle'))} | {peaks[0].requests} | {worst.peak_text} | "
            f"{sum(a[venue].logs[venue].refusals for a in alone)} / {sum(x.refusals for x in peaks)} / "
            f"{sum(t.logs[venue].refusals for t in one)} |"
        )
    rows.append(
        f"| **the round, three together** | | | {seconds([t.requests_round_s for t in apart])} | "
        f"{seconds([t.round_s for t in apart])} | {seconds([t.requests_round_s for t in one])} | "
        f"{seconds([t.round_s for t in one])} | {sum(apart[0].logs[v].requests for v in venues)} | | |"
    )

    # Each round pairs legs measured in the same minute: its ratio, then the median of those.
    ratio_req, ratio_cycle = paired(apart, alone)
    one_req, one_cycle = paired(one, alone)
    baseline = [sum(a[v].cycle_s[v] for v in venues) for a in alone]
    refused = sum(t.logs[v].refusals for t in apart for v in venues)
    peak = max((t.logs[v] for t in apart for v in venues), key=lambda x: x.peak)
    slowest = max(venues, key=lambda v: med([a[v].logs[v].span for a in alone]))
    memory = ", ".join(
        f"{NAMES[v]} {med([x.rss_mb[v][0] for x in apart]):.0f} MB "
        f"(peak {max(x.rss_mb[v][1] for x in apart):.0f} MB)"
        for v in venues
    )

    target = f"three venues × {SYMBOLS} symbols together no slower than {RATIO_TARGET:g}× the slowest alone"
    lines = [
        f"As `dps run` collects them (a process per venue, the default), the round over the slowest "
        f"venue alone ({NAMES[slowest]}), each round paired with the legs measured beside it: "
        f"requests {ratios(ratio_req)}; whole cycles with storing {ratios(ratio_cycle)}.",
        "",
        f"Beside it, the three in one process (`VENUE_PROCESSES=one`): requests {ratios(one_req)}; "
        f"whole cycles with storing {ratios(one_cycle)}.",
        "",
        f"Baseline, the three one after another in one loop (sum of their cycles alone): "
        f"{seconds(baseline)}; a process each: {seconds([t.round_s for t in apart])}; one process: "
        f"{seconds([t.round_s for t in one])}.",
        "",
        f"CPU time in the round: the three venues' processes {seconds([t.cpu_s for t in apart])}; "
        f"one process {seconds([t.cpu_s for t in one])}; the three alone, summed: "
        f"{seconds([sum(a[v].cpu_s for v in venues) for a in alone])}. Each venue's process's RSS at "
        f"the end of its cycle, median (and its peak, `VmHWM`): {memory}.",
        "",
        verdict(f"{target} (requests, from the fakes' logs)", round(med(ratio_req), 2), RATIO_TARGET, "×"),
        verdict(f"{target} (whole cycles with storing)", round(med(ratio_cycle), 2), RATIO_TARGET, "×"),
        # The outcome from the share; the figure names the budget and window behind it.
        FIGURE.sub(
            f"({peak.peak_text}).",
            verdict(
                "every venue at most its published budget in any window, together",
                peak.peak * 100,
                100.0,
                "%",
            ),
        ),
        verdict("no request refused, together", refused, 0, "refused"),
    ]
    explain = f"""A venue's "requests" run from its cycle's first request reaching its fake to its last
answer leaving it; "the round" from the first request at any of the three fakes to the last
answer of any (a cycle's leading work before its first request counts in neither). "Cycle
with storing" is `Process.venue_cycle` on the bot's side: fetch, score, diff and the one
transaction that stores the cycle; the round's figure there runs from the start of the
first cycle to the end of the last. Weight is Binance's request weight, requests for Bybit
and OKX; the peak is the most that reached a fake in any window of the venue's limit
(Binance 2,400 weight per 60 s, Bybit 600 requests per 5 s, OKX per endpoint per 2 s, the
worst shown), over the whole leg including loading the markets; "refused" counts the
fakes' rate-limit answers. Counts come from the fakes' records and each cycle's summary
line. Figures: the median of {len(rounds)} rounds, then each round's.

"A process each" is what `dps run` starts by default with several venues
(`VENUE_PROCESSES=per-venue`, `bot/venue_children.py`): each process is built from the
settings `dps run` hands its child (`child_settings`: every venue known, its own collected,
under its own lease), one database, the three cycles started together; the bench drives
each child's one cycle itself rather than through its schedule, whose first cycle would
also load the markets and backfill a day of history. Each venue has its own ccxt client,
limiter and lease in either mode, so no venue waits for another's requests or budget. In
one process they also share the interpreter lock, which Binance's client needs to read
each of its 500 answers while Bybit and OKX score, diff and store 500 symbols each: that
work is queued on one lock, not overlapped, and on two cores shared with other work it
stretches the round. A process each removes that queue at the price of an interpreter
each (the RSS above). Each fake runs in a child process of its own, as each exchange is a
service of its own elsewhere.
Load average (1, 5, 15 min) before: {load[0]}; after: {load[1]}.
"""
    return (
        f"## Three venues together ({SYMBOLS} USDT perpetuals each, on three fake exchanges)\n\n"
        f"`EXCHANGES=binanceusdm,bybit,okx` as `dps run` collects them by default, a process per "
        f"venue, beside the three in one process (`VENUE_PROCESSES=one`, as `dps run --role "
        f"collector` builds it); the venues' first cycles started together, after the start-up "
        f"freeze of the garbage collector (`gc_policy.after_start`), over a migrated "
        f"SQLite database; {LATENCY_S * 1000:.0f} ms injected latency per request; each fake "
        "enforces its venue's published limits. Legs interleaved: each venue alone, the three in "
        "one process, the three a process each, every round on fresh fakes, sources and database.\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        + explain
    )


def loadavg() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/results alone")
    args = parser.parse_args()
    malloc_arenas.tune()  # as ``bot.runner.run`` does before it builds the app
    logging.basicConfig(level=logging.WARNING)
    before = loadavg()
    rounds = asyncio.run(measure(args.rounds))
    text = report(rounds, (before, loadavg()))
    print(text)
    if not args.no_write:
        write_section("venues", text)


if __name__ == "__main__":
    main()
