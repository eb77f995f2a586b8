"""Target: a 500-symbol collection cycle within 1.5x the rate-limit floor, >= 5x a sequential loop.

Setup: the fake exchange (``tests/fakes/exchange``) serves 500 Binance USD-M perpetuals on
127.0.0.1 with 50 ms injected latency per request and Binance's limits: REQUEST_WEIGHT
2400/min in exchangeInfo, reported in ``X-MBX-USED-WEIGHT-1M``, enforced with a 429. The
client is the real ccxt ``binanceusdm`` with its own throttle at its default ``rateLimit``
of 50 ms per cost unit.

Measured in one run:
  (a) ``CcxtSource.fetch_cycle``: bulk premiumIndex + fundingInfo + ticker/24hr, and
      500 openInterest calls under a semaphore, all started together;
  (b) the floor those limits allow, computed from the requests (a) made (see ``floor``);
  (c) a sequential per-symbol loop: the same fields fetched one symbol at a time from
      the per-symbol endpoints (premiumIndex?symbol=, openInterest, ticker/24hr?symbol=),
      fundingInfo once, on an identically configured ccxt instance.

``--sequential-symbols N`` measures (c) on the first N symbols and scales it to 500
(labelled as such); the default measures all 500 (about 2.5 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ccxt
import ccxt.async_support as ccxt_async

from bench.common import write_section
from bot.collector.ccxt_source import CcxtSource, SourceTuning
from bot.collector.client import rewrite_api_urls
from tests.fakes.exchange import FakeExchange, FakeMarket

SYMBOLS = 500
LATENCY_S = 0.050
RATE_LIMIT_MS = 50.0  # ccxt binanceusdm default
WEIGHT_LIMIT = 2400
FLOOR_TARGET = 1.5
SPEEDUP_TARGET = 5.0

# Route key of the fake → (ccxt api section, path) for ccxt's cost table.
ENDPOINTS = {
    "premiumIndex": ("fapiPublic", "premiumIndex"),
    "fundingInfo": ("fapiPublic", "fundingInfo"),
    "ticker/24hr": ("fapiPublic", "ticker/24hr"),
    "openInterest": ("fapiPublic", "openInterest"),
}
# Binance's documented weights (what the fake counts): premiumIndex 10 without a symbol,
# ticker/24hr 40 without a symbol, openInterest 1, fundingInfo 0 (its own 500/5min limit).
WEIGHTS = {"premiumIndex": (1, 10), "fundingInfo": (0, 0), "ticker/24hr": (1, 40), "openInterest": (1, 1)}


def ccxt_cost(key: str, params: dict[str, str]) -> float:
    """ccxt's rate-limiter cost of a recorded request (as ``calculate_rate_limiter_cost``)."""
    section, path = ENDPOINTS[key]
    entry = ccxt.binanceusdm().describe()["api"][section]["get"][path]
    if isinstance(entry, dict):
        if "noSymbol" in entry and "symbol" not in params:
            return float(entry["noSymbol"])
        return float(entry.get("cost", 1))
    return float(entry)


def weight(key: str, params: dict[str, str]) -> int:
    with_symbol, without = WEIGHTS[key]
    return with_symbol if "symbol" in params else without


def floor(costs: list[float]) -> float:
    """Shortest cycle the limits allow for these requests, in seconds.

    ccxt's leaky bucket (capacity 1) lets a request start once the previous one's cost
    has drained at one unit per ``rateLimit``; the first starts at once. So the last
    request starts after (sum of all costs but its own) x rateLimit, and the cycle ends
    one round trip (the injected latency) later. Binance's 2400 weight/min is a window,
    not a pace: a cycle whose weight fits in it adds nothing (checked below).
    """
    return (sum(costs) - costs[-1]) * RATE_LIMIT_MS / 1000 + LATENCY_S


async def measure_source(
    fake: FakeExchange, rate_limit_ms: float | None
) -> tuple[float, int, int | None, list]:
    source = CcxtSource("binanceusdm", api_url=fake.url, tuning=SourceTuning(rate_limit_ms=rate_limit_ms))
    try:
        await source.load_universe()
        await asyncio.sleep(RATE_LIMIT_MS * 40 / 1000)  # let ccxt's bucket drain after the load
        fake.requests.clear()
        started = time.perf_counter()
        report = await source.fetch_cycle(datetime.now(UTC))
        elapsed = time.perf_counter() - started
    finally:
        await source.close()
    if len(report.snapshots) != SYMBOLS:
        raise SystemExit(f"cycle incomplete: {len(report.snapshots)} snapshots, {report.failures[:3]}")
    return elapsed, report.requests, report.weight_used, list(fake.requests)


async def measure_sequential(fake: FakeExchange, count: int) -> tuple[float, list]:
    exchange = ccxt_async.binanceusdm({"options": {"fetchMarkets": {"types": ["linear"]}}})
    exchange.urls["api"] = rewrite_api_urls(exchange.urls["api"], fake.url)
    try:
        await exchange.load_markets()
        symbols = sorted(m["symbol"] for m in exchange.markets.values() if m["swap"])[:count]
        await asyncio.sleep(0.1)
        fake.requests.clear()
        started = time.perf_counter()
        await exchange.fetch_funding_intervals()
        for symbol in symbols:
            await exchange.fetch_funding_rate(symbol)
            await exchange.fetch_open_interest(symbol)
            await exchange.fetch_ticker(symbol)
        elapsed = time.perf_counter() - started
    finally:
        await exchange.close()
    return elapsed, list(fake.requests)


async def run(sequential_symbols: int) -> str:
    fake = FakeExchange(FakeMarket.generated(SYMBOLS), latency_s=LATENCY_S)
    fake.weight_limit = WEIGHT_LIMIT
    await fake.start()
    try:
        cycle_s, requests, weight_seen, recorded = await measure_source(fake, None)
        costs = [ccxt_cost(r.key, r.params) for r in recorded]
        weights = sum(weight(r.key, r.params) for r in recorded)
        floor_s = floor(costs)
        budget_s, _, _, _ = await measure_source(fake, 60_000 / WEIGHT_LIMIT)
        seq_s, seq_recorded = await measure_sequential(fake, sequential_symbols)
    finally:
        await fake.stop()
    scale = SYMBOLS / sequential_symbols
    seq_total = seq_s * scale
    seq_note = "" if scale == 1 else f" (measured on {sequential_symbols} symbols, x{scale:g})"
    # fundingInfo is fetched once; the per-symbol calls scale with the symbol count.
    once, each = seq_recorded[:1], seq_recorded[1:]
    seq_requests = 1 + round(len(each) * scale)
    seq_cost = (
        sum(ccxt_cost(r.key, r.params) for r in once) + sum(ccxt_cost(r.key, r.params) for r in each) * scale
    )
    seq_weight = round(sum(weight(r.key, r.params) for r in each) * scale)
    slack_ms = (cycle_s - floor_s) / len(costs) * 1000
    within = cycle_s / floor_s
    speedup = seq_total / cycle_s
    rows = [
        "| measure | requests | ccxt cost units | Binance weight | time | vs floor |",
        "|---|---:|---:|---:|---:|---:|",
        f"| (a) `CcxtSource.fetch_cycle` | {requests} | {sum(costs):.0f} | {weights} | "
        f"{cycle_s:.2f} s | {within:.2f}x |",
        f"| (b) floor allowed by the limits | {len(costs)} | {sum(costs):.0f} | {weights} | "
        f"{floor_s:.2f} s | 1.00x |",
        f"| (c) sequential per-symbol loop{seq_note} | {seq_requests} | {seq_cost:.0f} | {seq_weight} | "
        f"{seq_total:.2f} s | {seq_total / floor_s:.2f}x |",
        f"| extra: (a) with ccxt `rateLimit` = 60 000 / {WEIGHT_LIMIT} = {60_000 / WEIGHT_LIMIT:.0f} ms "
        f"(the whole weight budget) | {requests} | {sum(costs):.0f} | {weights} | {budget_s:.2f} s | — |",
    ]
    verdict = (
        f"Targets: within {FLOOR_TARGET}x the floor — **{'met' if within <= FLOOR_TARGET else 'missed'}** "
        f"({within:.2f}x); at least {SPEEDUP_TARGET:g}x faster than sequential — "
        f"**{'met' if speedup >= SPEEDUP_TARGET else 'missed'}** ({speedup:.1f}x)."
    )
    lat, spacing = LATENCY_S * 1000, RATE_LIMIT_MS
    explain = f"""The floor: ccxt's throttle is a leaky bucket with capacity 1 that releases one cost
unit every `rateLimit` = {spacing:.0f} ms, so a cycle whose requests cost C units in total
cannot end before (C - cost of the last request) x {spacing:.0f} ms + one round trip
({lat:.0f} ms). The cycle's {len(costs)} requests cost {sum(costs):.0f} units (ticker/24hr without
a symbol alone costs 40), hence {floor_s:.2f} s. Binance's own limit, {WEIGHT_LIMIT} weight per
minute, is a window, not a pace: this cycle weighs {weights} (premiumIndex 10, ticker/24hr
40, 1 per openInterest), which fits in one window, so it adds nothing to the floor (the
peak used weight the fake reported was {weight_seen}). The cycle spent {slack_ms:.2f} ms per
request above the floor.

Why the sequential loop is slower: each of its requests waits for the previous answer
({lat:.0f} ms) and then, because ccxt's bucket does not credit idle time, a further
{spacing:.0f} ms for the throttle; and it needs three per-symbol calls where the source makes
one bulk call per field. A sequential loop that already used the bulk endpoints and
fetched only OI one symbol at a time would take about ({lat:.0f} + {spacing:.0f}) / {spacing:.0f} =
{(lat + spacing) / spacing:.0f}x the floor: while ccxt's default spacing binds, concurrency alone buys
about 2x and the bulk endpoints buy the rest. The extra row shows the other lever:
spending the whole {WEIGHT_LIMIT}/min budget (ccxt `rateLimit` {60_000 / WEIGHT_LIMIT:.0f} ms) halves
the cycle; the source keeps ccxt's default for headroom (other clients on the same IP,
premiumIndex under-costed by ccxt).
"""
    return (
        f"## Collector cycle ({SYMBOLS} symbols, Binance USD-M on the fake exchange)\n\n"
        f"{LATENCY_S * 1000:.0f} ms injected latency per request; Binance's weight limit "
        f"{WEIGHT_LIMIT}/min served and enforced by the fake; real ccxt `binanceusdm`, "
        f"`rateLimit` {RATE_LIMIT_MS:.0f} ms.\n\n" + "\n".join(rows) + "\n\n" + verdict + "\n\n" + explain
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sequential-symbols", type=int, default=SYMBOLS, help="symbols in the sequential loop"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    text = asyncio.run(run(max(1, min(SYMBOLS, args.sequential_symbols))))
    print(text)
    write_section("collector", text)


if __name__ == "__main__":
    main()
