"""Target: steady-state RSS of the running bot with 500 symbols under 250 MB, and flat.

The same wiring as ``dps run`` (``bot.runner.build_app``) against the fake exchange with 500
generated symbols, served from a child process so its memory is not counted. Cycles run
back to back (collect → score → diff → outbox, delivery, digest tick) instead of waiting
``COLLECT_INTERVAL``: the schedule only waits between them. The one change from production
is ccxt's request spacing (2 ms instead of 50 ms), so 30+ cycles take minutes, not hours;
it changes timing, not what is held in memory. Binance's weight budget (2,400 a minute, kept
by the source) still paces the cycles at about four a minute. Baseline in the same run: a
bare interpreter importing the same modules (ccxt alone is ~90 MB, matplotlib ~50 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import write_section

FAKE = """
import asyncio, sys
from tests.fakes.exchange import FakeExchange
from tests.fakes.exchange.market import FakeMarket
async def main():
    fake = FakeExchange(FakeMarket.generated(500))
    print(await fake.start(), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await fake.stop()
asyncio.run(main())
"""
BASELINE = "import bot.runner, bot.bootstrap, bot.cli; print(open('/proc/self/status').read())"


def rss_mb(status: str | None = None) -> float:
    text = status if status is not None else Path("/proc/self/status").read_text()
    line = next(line for line in text.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def measure(url: str, cycles: int) -> tuple[list[float], float, float, float]:
    from bot.collector.client import SourceTuning
    from bot.config import load_settings
    from bot.runner import SystemClock, build_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            database_url=f"sqlite:///{tmp}/dps.sqlite3", exchange_api_url=url, collect_interval=30, symbols=[]
        )
        app = build_app(
            settings,
            replay=False,
            clock=SystemClock(),
            chart_dir=Path(tmp),
            tuning=SourceTuning(rate_limit_ms=2),
        )
        after_start = rss_mb()
        await app.collector.cycle.backfill(app.clock.now())
        gc.freeze()  # as dps run does after start-up
        after_backfill = rss_mb()
        samples, started = [], time.perf_counter()
        for i in range(cycles):
            await app.cycle()
            await app.deliver()
            await app.digest_tick()
            samples.append(rss_mb())
            print(
                f"cycle {i + 1}: {samples[-1]:.1f} MB  ({app.last_line[0] if app.last_line else ''})",
                flush=True,
            )
        elapsed = time.perf_counter() - started
        await app.close()
    return samples, after_start, after_backfill, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=40)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    baseline = rss_mb(
        subprocess.run(
            [sys.executable, "-c", BASELINE], capture_output=True, text=True, check=True, cwd=root
        ).stdout
    )
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    if fake.stdout is None or fake.stdin is None:
        raise RuntimeError("no pipes to the fake exchange")
    url = fake.stdout.readline().strip()
    try:
        samples, after_start, after_backfill, elapsed = asyncio.run(measure(url, args.cycles))
    finally:
        fake.stdin.close()
        fake.wait(timeout=30)
    tail = samples[-20:]
    slope = statistics.linear_regression(range(len(tail)), tail).slope
    ok = max(tail) < 250 and abs(slope) < 0.5
    text = "\n".join(
        [
            "## Memory of the running bot (500 symbols)",
            "",
            f"`build_app` as `dps run` wires it, on the fake exchange (500 symbols, a child process), "
            f"{len(samples)} cycles back to back with delivery and the digest tick, in {elapsed:.0f} s "
            "(paced by Binance's 2,400-a-minute weight budget, which the source keeps).",
            "",
            "| measure | RSS |",
            "|---|---:|",
            f"| baseline: bare interpreter importing the bot's modules | {baseline:.0f} MB |",
            f"| after start-up (database migrated, exchange client built) | {after_start:.0f} MB |",
            f"| after backfilling 24 h of OI history | {after_backfill:.0f} MB |",
            f"| last 20 cycles: min / median / max | {min(tail):.0f} / {statistics.median(tail):.0f} / "
            f"{max(tail):.0f} MB |",
            f"| last 20 cycles: slope | {slope:+.2f} MB per cycle |",
            "",
            f"Target: under 250 MB and flat — **{'met' if ok else 'missed'}**.",
        ]
    )
    print(text)
    write_section("memory", text)


if __name__ == "__main__":
    main()
