"""Market files built by the backtest tests: seeded, small, written in the market format."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.backtest.market_file import write_market

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
PER_DAY = 288
BASELINE_FUNDING = 0.0001  # a fraction per 8h: what a balanced book pays


def _row(symbol: str, step: int, oi: float, mark: float, basis_pct: float, funding: float) -> list[object]:
    ts = START + step * STEP
    index = mark / (1 + basis_pct / 100)
    return [
        "test", symbol, ts, f"{oi:.8g}", f"{oi * mark:.8g}", f"{mark:.8g}", f"{index:.8g}", f"{mark:.8g}",
        f"{funding:.6g}", 8, ts + timedelta(hours=8), 1e7,
    ]  # fmt: skip


def _time_major(streams: list[Iterator[list[object]]]) -> Iterator[list[object]]:
    while True:
        try:
            batch = [next(s) for s in streams]
        except StopIteration:
            return
        yield from batch


def crash_market(path: Path, symbols: int = 10, days: int = 5, seed: int = 7) -> Path:
    """Calm books, each with one scripted episode: crowded longs build, then the crash.

    Over 8 hours funding climbs to +0.13 %/8h, the premium to +0.6 % and OI by 35 %
    (the textbook crowded book, stressed); then within one hour the price falls 15 % and
    OI 30 %, and funding and basis return to calm. Episodes are staggered from day 1.5,
    with at least a day of data after each crash.
    """

    def stream(k: int) -> Iterator[list[object]]:
        rng = random.Random(seed * 100 + k)
        price, oi = 10.0 + k, 1e6
        build_from = PER_DAY + PER_DAY // 2 + k * 50
        crash_from = build_from + 96
        for step in range(days * PER_DAY + 1):
            price *= math.exp(rng.gauss(0, 0.001))
            oi *= math.exp(rng.gauss(0, 0.001))
            ramp = min(max((step - build_from) / 96, 0.0), 1.0) if step < crash_from else 0.0
            if crash_from <= step < crash_from + 12:
                price *= (1 - 0.15) ** (1 / 12)
                oi *= (1 - 0.30) ** (1 / 12)
            funding = BASELINE_FUNDING + ramp * 0.0012 + rng.gauss(0, 0.000005)
            basis = ramp * 0.6 + rng.gauss(0, 0.01)
            yield _row(f"CR{k:02d}USDT", step, oi * (1 + 0.35 * ramp), price, basis, funding)

    write_market(path, _time_major([stream(k) for k in range(symbols)]))
    return path


def independent_market(path: Path, symbols: int = 20, days: int = 6, seed: int = 11) -> Path:
    """Funding, basis and OI wander through every band; the price is a random walk of its own.

    The price's 5-minute log returns are i.i.d. normal with one volatility for every
    symbol and time, drawn from a generator the inputs never touch: whatever a reading
    says, the future is the same.
    """

    def stream(k: int) -> Iterator[list[object]]:
        inputs = random.Random(seed * 1000 + k)
        prices = random.Random(seed * 1000 + 500 + k)
        price, oi = 5.0 + k, 1e6
        funding = basis = 0.0
        for step in range(days * PER_DAY + 1):
            price *= math.exp(prices.gauss(0, 0.002))
            funding = 0.995 * funding + inputs.gauss(0, 0.00002)
            basis = 0.99 * basis + inputs.gauss(0, 0.03)
            oi *= math.exp(inputs.gauss(0, 0.006))
            yield _row(f"IN{k:02d}USDT", step, oi, price, basis, BASELINE_FUNDING + funding)

    write_market(path, _time_major([stream(k) for k in range(symbols)]))
    return path
