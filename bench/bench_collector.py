"""Target: a 500-symbol cycle in under 6 s at 50 ms latency, never over 50 % of the venue's budget.

Setup, per venue (Binance USD-M, Bybit v5, OKX v5): a fresh fake exchange
(``tests/fakes/exchange``) serving 500 USDT perpetuals on 127.0.0.1 with 50 ms injected
latency per request, enforcing the venue's published limits with its own refusals
(Binance 2,400 weight per minute, 429 -1003; Bybit 600 requests per 5 s, 403 ban; OKX per
endpoint, 429 50011) and recording every request with its arrival time and weight. The
client is ``CcxtSource`` as the bot runs it (real ccxt, default ``SourceTuning``: half of
each published budget).

Measured from the fake's request log, never from the client's own counts:
  (a) the first cycle: wall time, requests, weight, the spread between its first and last
      OI request;
  (b) more cycles back to back, more than the budget share allows at once (Binance: three
      cycles of 550 against 1,200 per minute, so the budget has to hold the third back),
      the peak weight that arrived in any window of the venue's length, against the
      published budget, and the refusals;
  (c) the baseline: a plain ccxt instance calling the same bulk endpoints one after
      another, then, where OI has no bulk form (Binance), one OI request per symbol in a
      loop; ccxt's throttle off (one request at a time stays far inside every limit, and
      its spacing would only add to the round trips).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ccxt.async_support as ccxt_async

from bench.common import write_section
from bot.collector.ccxt_source import CcxtSource, SourceTuning
from bot.collector.client import rewrite_api_urls
from bot.collector.profiles import profile_for
from tests.fakes.exchange import FakeExchange, FakeMarket, Recorded
from tests.fakes.exchange.okx import ROUTES as OKX_ROUTES

SYMBOLS = 500
LATENCY_S = 0.050
CYCLE_TARGET_S = 6.0
SHARE_TARGET = 0.5


@dataclass(frozen=True)
class Budget:
    """One published limit as the fake enforces it; ``key`` = one endpoint only (OKX)."""

    label: str
    limit: int
    window_s: float
    key: str | None = None


@dataclass(frozen=True)
class Venue:
    exchange: str
    name: str
    dialect: str
    oi_key: str  # the fake's route whose answers carry OI
    cycles: int  # back to back: enough to need more than the venue's budget share


VENUES = (
    # 3 x 550 weight > 1,200 (half of 2,400 per minute): the third waits for the first.
    Venue("binanceusdm", "Binance USD-M", "binance", "openInterest", 3),
    Venue("bybit", "Bybit", "bybit", "tickers", 30),
    # 8 funding-rate requests > 5 (half of 10 per 2 s).
    Venue("okx", "OKX", "okx", "okx-open-interest", 8),
)


def budgets(venue: Venue, fake: FakeExchange) -> list[Budget]:
    """The limits the fake enforces for this venue (its own definitions, not ours)."""
    if venue.dialect == "binance":
        return [Budget("request weight", fake.weight_limit, fake.weight_window_s)]
    if venue.dialect == "bybit":
        return [Budget("requests", fake.bybit.limit.count, fake.bybit.limit.window_s)]
    return [
        Budget(route.key, route.limit.count, route.limit.window_s, route.key)
        for route in OKX_ROUTES
        if route.limit is not None
    ]


def peak_share(venue: Venue, fake: FakeExchange) -> tuple[float, str]:
    """The highest share of any budget used in any window, and the figure behind it."""
    best, text = -1.0, ""
    for budget in budgets(venue, fake):
        peak = fake.peak_weight(budget.window_s, dialect=venue.dialect, key=budget.key)
        share = peak / budget.limit
        if share > best:
            what = f"{budget.label}: " if budget.key else ""
            best = share
            text = f"{what}{peak:,} of {budget.limit:,} per {budget.window_s:g} s = {share:.1%}"
    return best, text


def spread_s(records: list[Recorded], key: str) -> float:
    times = [r.t for r in records if r.key == key]
    return max(times) - min(times) if times else 0.0


@dataclass
class Run:
    cycle_s: float
    requests: int
    weight: int
    oi_spread_s: float
    cycles: int
    sustained_s: float
    peak: float
    peak_text: str
    refusals: int
    seq_s: float
    seq_requests: int


async def measure_source(venue: Venue, fake: FakeExchange) -> tuple[float, list[Recorded], int, float]:
    """First cycle's time and records; then more cycles back to back (``Venue.cycles`` in all)."""
    source = CcxtSource(venue.exchange, api_url=fake.url, tuning=SourceTuning())
    try:
        await source.load_universe()
        first = len(fake.requests)
        started = time.perf_counter()
        report = await source.fetch_cycle(datetime.now(UTC))
        cycle_s = time.perf_counter() - started
        records = fake.requests[first:]
        if len(report.snapshots) != SYMBOLS:
            raise SystemExit(f"{venue.name}: {len(report.snapshots)} snapshots, {report.failures[:3]}")
        for _ in range(venue.cycles - 1):
            await source.fetch_cycle(datetime.now(UTC))
        cycles = venue.cycles
        sustained_s = time.perf_counter() - started
    finally:
        await source.close()
    return cycle_s, records, cycles, sustained_s


async def measure_sequential(venue: Venue, fake: FakeExchange) -> tuple[float, int]:
    """The same bulk calls one after another, then OI one symbol at a time where it has no bulk form."""
    profile = profile_for(venue.exchange)
    exchange = getattr(ccxt_async, profile.ccxt_class)(
        {"enableRateLimit": False, "options": dict(profile.ccxt_options)}
    )
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], fake.url)
    try:
        await exchange.load_markets()
        symbols = sorted(
            m["symbol"]
            for m in exchange.markets.values()
            if m.get("swap")
            and m.get("linear")
            and m.get("settle") == "USDT"
            and m.get("active") is not False
        )
        first = len(fake.requests)
        started = time.perf_counter()
        for call in profile.bulk:
            await getattr(exchange, call.method)(params=dict(call.params))
        if profile.per_symbol_oi is not None:
            for symbol in symbols:  # plain ccxt: its unified method
                await exchange.fetch_open_interest(symbol)
        elapsed = time.perf_counter() - started
    finally:
        await exchange.close()
    return elapsed, len(fake.requests) - first


async def measure(venue: Venue) -> Run:
    fake = FakeExchange(FakeMarket.generated(SYMBOLS), latency_s=LATENCY_S)
    await fake.start()
    try:
        cycle_s, records, cycles, sustained_s = await measure_source(venue, fake)
        peak, peak_text = peak_share(venue, fake)
        refusals = len(fake.refusals)
        # The baseline on its own fake: its requests must not count in the peak above.
    finally:
        await fake.stop()
    fake = FakeExchange(FakeMarket.generated(SYMBOLS), latency_s=LATENCY_S)
    await fake.start()
    try:
        seq_s, seq_requests = await measure_sequential(venue, fake)
    finally:
        await fake.stop()
    return Run(
        cycle_s=cycle_s,
        requests=len(records),
        weight=sum(r.weight for r in records) if venue.dialect == "binance" else len(records),
        oi_spread_s=spread_s(records, venue.oi_key),
        cycles=cycles,
        sustained_s=sustained_s,
        peak=peak,
        peak_text=peak_text,
        refusals=refusals,
        seq_s=seq_s,
        seq_requests=seq_requests,
    )


def verdicts(venue: Venue, run: Run) -> list[str]:
    cycle = (
        "**met**" if run.cycle_s < CYCLE_TARGET_S else f"**missed by {run.cycle_s - CYCLE_TARGET_S:.2f} s**"
    )
    share = (
        "**met**"
        if run.peak <= SHARE_TARGET
        else f"**missed by {(run.peak - SHARE_TARGET) * 100:.1f} percentage points**"
    )
    return [
        f"Verdict: {venue.name} {SYMBOLS}-symbol cycle under {CYCLE_TARGET_S:g} s at "
        f"{LATENCY_S * 1000:.0f} ms latency — {cycle} ({run.cycle_s:.2f} s).",
        f"Verdict: {venue.name} at most {SHARE_TARGET:.0%} of the published budget in any window — "
        f"{share} ({run.peak_text}; {run.refusals} refused).",
    ]


async def run_all() -> str:
    results = [(venue, await measure(venue)) for venue in VENUES]
    rows = [
        "| venue | cycle | requests | weight | OI spread | sequential loop | speed-up "
        "| cycles back to back | peak in any window vs budget | refused |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    lines = []
    for venue, run in results:
        rows.append(
            f"| {venue.name} | {run.cycle_s:.2f} s | {run.requests} | {run.weight:,} | "
            f"{run.oi_spread_s * 1000:.0f} ms | {run.seq_s:.2f} s ({run.seq_requests} "
            f"request{'s' if run.seq_requests != 1 else ''}) | "
            f"{run.seq_s / run.cycle_s:.1f}x | {run.cycles} in {run.sustained_s:.1f} s | "
            f"{run.peak_text} | {run.refusals} |"
        )
        lines.extend(verdicts(venue, run))
    binance = profile_for("binanceusdm")
    concurrency = binance.concurrency
    explain = f"""Weight for Binance is its request weight (premiumIndex without a symbol 10, ticker/24hr
without a symbol 40, openInterest 1, fundingInfo 0); Bybit and OKX count requests. "Peak in
any window" is the most weight that arrived at the fake within any window of the venue's
length (Binance 60 s, Bybit 5 s, OKX 2 s per endpoint, the worst endpoint shown), over
the first cycle and the cycles that followed it back to back, from the fake's request log;
"refused" counts the fake's rate-limit answers. The OI spread is the time between the
first and the last OI request of the first cycle to reach the fake (Bybit and OKX answer
OI for every symbol in one request: 0).

How: ``CcxtSource`` paces each request against {SHARE_TARGET:.0%} of every published limit it
falls under (a weighted sliding window per limit, ``bot/collector/venue_limiter.py``)
instead of ccxt's fixed spacing of one cost unit per ``rateLimit`` (50 ms on Binance, 27 s
for this cycle before), and keeps up to {concurrency} Binance OI requests in flight to hide
the round trip. Back to back, the third Binance cycle waits for the first one's weight to
leave the 60 s window.

Bybit's cycle is one request either way (OKX's five): there the source can only match
the baseline's round trips, and its time over them is building the 500 snapshots the
baseline does not build.

Baseline: a plain ccxt instance awaits the same bulk endpoints one after another and then,
where OI has no bulk form (Binance), one OI request per symbol; its throttle is off (one
request at a time stays far inside every limit).
"""
    return (
        f"## Collector cycle ({SYMBOLS} USDT perpetuals per venue, on the fake exchanges)\n\n"
        f"{LATENCY_S * 1000:.0f} ms injected latency per request; each venue's published limits "
        "enforced by the fake; real ccxt under `CcxtSource` with its default tuning.\n\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(lines)
        + "\n\n"
        + explain
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    text = asyncio.run(run_all())
    print(text)
    write_section("collector", text)


if __name__ == "__main__":
    main()
