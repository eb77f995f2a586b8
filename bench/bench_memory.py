"""Target: the running bot with 500 symbols stays under 250 MB RSS, flat from cycle to cycle.

Setup: the wiring of ``dps run`` — ``build_app(settings, clock=SystemClock())``,
the console chat registered with its daily digest on, a backfill of 24 h of OI history,
``gc.freeze()``, then cycles — against the fake exchange (``tests/fakes/exchange``) serving
500 generated Binance USD-M perpetuals on 127.0.0.1.

The fake runs in a child process, so only the bot's memory is counted: the fake keeps
every request it answers (``FakeExchange.requests``, by design), which in the same process
would grow by some 500 records a cycle and read as a leak of the bot.

Accelerated: each cycle is ``Process.cycle``, ``Process.deliver`` and ``Process.digest_tick``
back to back instead of one every ``COLLECT_INTERVAL``; the real schedule only waits
between them. The fake's data time is the wall clock, so each cycle stores 500 new
snapshots and scores. The digest time is set to the minute the run starts, so the one
digest of the day (text and chart) is built and delivered during the run.

Two changes from production, both timing only, neither in what is held in memory:
ccxt's ``rateLimit`` is 2 ms per cost unit instead of 50 ms (``SourceTuning(rate_limit_ms=2)``,
every other knob at its production default, passed to ``build_app``), and the fake's
request-weight budget is 100x Binance's 2400/min, because a cycle weighs about 550 and
at 5-minute intervals never nears the budget, while back-to-back cycles would spend most of
the run waiting out the weight gate.

Measured in one run (Linux: it reads ``/proc/self``): RSS (``VmRSS``) after start-up,
after the backfill and after every cycle; the peak (``VmHWM``, reset per phase) within
start-up, the backfill, the first cycles and the last 20; min / median / max and the
least-squares slope of RSS over the last 20 cycles. Baseline: a fresh interpreter that
imports every module the measured process had loaded by the end of the run, so the
difference is what the bot holds, not its code.

``--cycles N`` runs N cycles (default 40, at least 30).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine

from bench.common import write_section
from bot.bootstrap import SystemClock, build_app
from bot.collector.client import SourceTuning
from bot.config import load_settings
from bot.core.records import ChatKind, ChatSettings
from bot.runner import Process

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = 500
CYCLES = 40
MIN_CYCLES = 30
WINDOW = 20  # the last cycles summarised
TARGET_MB = 250.0
FLAT_MB_PER_CYCLE = 0.1  # 29 MB a day at the 5-minute schedule
RATE_LIMIT_MS = 2.0
WEIGHT_LIMIT = 100 * 2400
CYCLES_PER_DAY = 24 * 60 // 5
COUNTS = {
    "snapshots": "SELECT COUNT(*) FROM market_snapshots",
    "scores": "SELECT COUNT(*) FROM scores",
    "queued": "SELECT COUNT(*) FROM outbox",
    "sent": "SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL",
    "digests": "SELECT COUNT(*) FROM digests_sent",
}


def status() -> dict[str, float]:
    """The ``Vm*`` / ``Rss*`` lines of /proc/self/status, in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(":")
        if key.startswith(("Vm", "Rss")) and value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) / 1024
    return out


def rss_mb() -> float:
    return status()["VmRSS"]


def peak_mb(*, reset: bool) -> float:
    """``VmHWM``, the peak RSS since start or the last reset; then reset it if asked.

    Writing 5 to ``/proc/self/clear_refs`` resets the peak (Linux 4.0+), so each phase
    gets its own peak, including what a cycle held in the middle and gave back before its
    RSS sample was taken.
    """
    peak = status()["VmHWM"]
    if reset:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    return peak


def trimmed_mb() -> float | None:
    """RSS after glibc's ``malloc_trim(0)`` hands free heap back to the kernel (None elsewhere)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return None
    return rss_mb()


# -- the child processes ----------------------------------------------------------------


def serve_fake() -> None:
    """Child: serve the fake exchange, print its URL, stop when stdin closes."""
    from tests.fakes.exchange import FakeExchange, FakeMarket

    async def serve() -> None:
        fake = FakeExchange(FakeMarket.generated(SYMBOLS))
        fake.weight_limit = WEIGHT_LIMIT
        print(await fake.start(), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await fake.stop()

    asyncio.run(serve())


def baseline() -> None:
    """Child: import the module names read from stdin, then print RSS as JSON."""
    import importlib

    failed = []
    names = json.loads(sys.stdin.read())
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:
            failed.append(name)
    gc.collect()
    print(json.dumps({"rss": rss_mb(), "modules": len(names), "failed": failed}))


# -- the measured process ---------------------------------------------------------------


@dataclass
class Run:
    """RSS after each phase and each cycle, the peak within each phase (MB), and what was stored."""

    start_mb: float = 0.0
    backfill_mb: float = 0.0
    backfill_s: float = 0.0
    cycles_mb: list[float] = field(default_factory=list)
    cycles_s: list[float] = field(default_factory=list)
    peaks: dict[str, float] = field(default_factory=dict)
    trimmed_mb: float | None = None
    rows_after_backfill: dict[str, int] = field(default_factory=dict)
    rows_at_end: dict[str, int] = field(default_factory=dict)
    charts: int = 0


def rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.exec_driver_sql(sql).scalar_one()) for name, sql in COUNTS.items()}


async def cycle(process: Process) -> None:
    """One cycle as the schedule runs it, without the waits between the jobs."""
    await process.cycle()
    await process.deliver()
    await process.digest_tick()


async def measure(url: str, cycles: int, tmp: Path, console_out: TextIO) -> Run:
    run = Run()
    started = datetime.now(UTC)
    settings = load_settings(
        database_url=f"sqlite:///{tmp / 'dps.sqlite3'}",
        exchange="binanceusdm",
        exchange_api_url=url,
        symbols=[],
        universe_top_n=None,
        collect_interval=300,
        digest_time=started.time().replace(second=0, microsecond=0, tzinfo=None),
        digest_timezone="UTC",
        telegram_bot_token=None,
        discord_bot_token=None,
    )
    app = build_app(
        settings,
        clock=SystemClock(),
        out=console_out,
        chart_dir=tmp / "charts",
        tuning=SourceTuning(rate_limit_ms=RATE_LIMIT_MS),
    )
    process = Process(app)
    try:
        app.collector.storage.chats.ensure_chat(  # as dps run does for the console chat
            app.console.chat,
            kind=ChatKind.PRIVATE,
            now=app.clock.now(),
            timezone=settings.digest_timezone,
            defaults=ChatSettings(digest_enabled=True, digest_time=settings.digest_time),
        )
        run.start_mb = rss_mb()
        run.peaks["start"] = peak_mb(reset=True)
        t0 = time.perf_counter()
        await app.collector.cycle.backfill(app.clock.now())
        run.backfill_s = time.perf_counter() - t0
        gc.freeze()  # as dps run does after start-up
        run.backfill_mb = rss_mb()
        run.rows_after_backfill = rows(app.collector.storage.engine)
        run.peaks["backfill"] = peak_mb(reset=True)
        print(f"backfill: {run.backfill_mb:.1f} MB in {run.backfill_s:.1f} s", file=sys.stderr)
        for n in range(1, cycles + 1):
            if n == cycles - WINDOW + 1:
                run.peaks["early"] = peak_mb(reset=True)
            t0 = time.perf_counter()
            await cycle(process)
            run.cycles_s.append(time.perf_counter() - t0)
            run.cycles_mb.append(rss_mb())
            line = app.last_cycle.line or "no cycle line"
            print(f"cycle {n}/{cycles}: {run.cycles_mb[-1]:.1f} MB  {line}", file=sys.stderr)
        run.peaks["window"] = peak_mb(reset=False)
        run.rows_at_end = rows(app.collector.storage.engine)
        run.charts = len(list((tmp / "charts").glob("*.png")))
        run.trimmed_mb = trimmed_mb()  # a diagnostic, after the last sample
    finally:
        await app.close()
    return run


def measure_baseline(modules: list[str]) -> tuple[float, int, list[str]]:
    done = subprocess.run(
        [sys.executable, __file__, "--baseline"],
        input=json.dumps(modules),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    answer = json.loads(done.stdout)
    return answer["rss"], answer["modules"], answer["failed"]


def report(run: Run, base_mb: float, modules: int, failed: list[str], elapsed_s: float) -> str:
    cycles = len(run.cycles_mb)
    early, tail = run.cycles_mb[:-WINDOW], run.cycles_mb[-WINDOW:]
    slope = statistics.linear_regression(range(len(tail)), tail).slope
    low, mid, high = min(tail), statistics.median(tail), max(tail)
    window_peak = run.peaks["window"]
    under, flat = window_peak < TARGET_MB, abs(slope) <= FLAT_MB_PER_CYCLE
    start, end = run.rows_after_backfill, run.rows_at_end
    first = f"{cycles - WINDOW + 1}–{cycles}"

    def plus(mb: float) -> str:
        return f"{mb:.0f} MB ({mb - base_mb:+.0f})"

    failed_note = f"; {len(failed)} would not import alone: {', '.join(failed[:5])}" if failed else ""
    table = [
        "| phase | RSS at its end (vs baseline) | peak within it |",
        "|---|---:|---:|",
        f"| baseline: a fresh interpreter importing the same {modules} modules{failed_note} | "
        f"{base_mb:.0f} MB | — |",
        f"| start-up: database migrated, ccxt client, command layer, console chat | {plus(run.start_mb)} | "
        f"{run.peaks['start']:.0f} MB |",
        f"| backfill: 24 h of OI history, {start['snapshots']:,} points, {run.backfill_s:.0f} s | "
        f"{plus(run.backfill_mb)} | {run.peaks['backfill']:.0f} MB |",
        f"| cycles 1–{len(early)} (the day's digest built with its chart and delivered) | "
        f"{plus(early[-1])} | {run.peaks['early']:.0f} MB |",
        f"| cycles {first}: min / median / max | {low:.0f} / {mid:.0f} / {high:.0f} MB "
        f"({mid - base_mb:+.0f}) | {window_peak:.0f} MB |",
        f"| cycles {first}: slope (least squares) | {slope:+.3f} MB per cycle "
        f"({slope * CYCLES_PER_DAY:+.1f} MB a day at 5 min) | |",
    ]
    verdict = (
        f"Target: under {TARGET_MB:.0f} MB in the steady state — **{'met' if under else 'missed'}** "
        f"({window_peak:.0f} MB at the highest over cycles {first}, within cycles included); flat "
        f"(|slope| ≤ {FLAT_MB_PER_CYCLE} MB per cycle, {FLAT_MB_PER_CYCLE * CYCLES_PER_DAY:.0f} MB a day) — "
        f"**{'met' if flat else 'missed'}** ({slope:+.3f} MB per cycle)."
    )
    overall = max(run.peaks.values())
    if overall >= TARGET_MB:
        phase = max(run.peaks, key=lambda k: run.peaks[k])
        where = {"start": "start-up", "backfill": "the backfill", "early": f"cycles 1–{len(early)}"}
        verdict += (
            f" The run's highest RSS, {overall:.0f} MB, was reached once, during {where.get(phase, phase)}."
        )
    trim = ""
    if run.trimmed_mb is not None:
        trim = (
            f" After the last cycle, glibc's `malloc_trim(0)` took RSS from {run.cycles_mb[-1]:.0f} to "
            f"{run.trimmed_mb:.0f} MB (heap already freed but kept by the allocator)."
        )
    samples = ", ".join(f"{mb:.0f}" for mb in run.cycles_mb)
    return f"""## Memory of the running bot ({SYMBOLS} symbols)

The wiring of `dps run` (`build_app(settings, clock=SystemClock())`, the console
chat with its digest on, backfill, `gc.freeze()`) against the fake exchange serving {SYMBOLS}
Binance USD-M perpetuals from a child process, so the fake's memory is not counted. {cycles}
cycles back to back, each `cycle()` + `deliver()` + `digest_tick()` without the wait between
them that the real schedule adds: {statistics.median(run.cycles_s):.1f} s a cycle (median), the
whole run {elapsed_s:.0f} s. Each cycle stored {(end["snapshots"] - start["snapshots"]) / cycles:.0f}
snapshots and {(end["scores"] - start["scores"]) / cycles:.0f} scores; the outbox got
{end["digests"]} digest and {end["queued"] - end["digests"]} alert messages, {end["sent"]} of
them delivered to the console ({run.charts} chart PNG written). RSS is `VmRSS` of the bot's process;
a phase's peak is `VmHWM`, reset at the phase's start.

{chr(10).join(table)}

{verdict}

RSS after each cycle, MB: {samples}.

The baseline imports every module the measured process had loaded by the end of the run
(ccxt with all its exchanges, matplotlib, SQLAlchemy, Alembic, pydantic…), so the
difference is what the bot holds, not its code.{trim}

Only timing differs from production: ccxt `rateLimit` {RATE_LIMIT_MS:g} ms instead of 50 ms
(`SourceTuning(rate_limit_ms=…)` passed through `build_app`, every other knob at its
default) and the fake's weight budget {WEIGHT_LIMIT:,} instead of 2,400 a minute, so cycles
follow each other in seconds. Because they do, every cycle of the run falls inside the
10-minute window a cycle reads its latest OI points from: a cycle here reads about {cycles}
points per symbol where production reads two or three, which can only overstate the
per-cycle working set.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=CYCLES, help=f"cycles to run (at least {MIN_CYCLES})")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake()
        return
    if args.baseline:
        baseline()
        return
    logging.basicConfig(level=logging.WARNING)
    began = time.perf_counter()
    fake = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if fake.stdin is None or fake.stdout is None:
        raise RuntimeError("no pipes to the fake exchange")
    try:
        url = fake.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"the fake exchange did not start (said {url!r})")
        with (
            tempfile.TemporaryDirectory(prefix="dps-bench-memory-") as tmp,
            open(os.devnull, "w", encoding="utf-8") as console_out,  # where the console chat prints
        ):
            run = asyncio.run(measure(url, max(MIN_CYCLES, args.cycles), Path(tmp), console_out))
    finally:
        fake.stdin.close()
        fake.wait(timeout=30)
    elapsed = time.perf_counter() - began
    modules = sorted(name for name, mod in sys.modules.items() if mod is not None and name != "__main__")
    base_mb, count, failed = measure_baseline(modules)
    text = report(run, base_mb, count, failed, elapsed)
    print(text)
    write_section("memory", text)


if __name__ == "__main__":
    main()
