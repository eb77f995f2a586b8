"""The weighted sliding window and the per-venue limiter built from the profiles' published limits."""

from __future__ import annotations

import pytest

from bot.collector.profiles import BINANCE_USDM, BYBIT, OKX, RateWindow, Weight
from bot.collector.request_budget import WindowLimiter
from bot.collector.venue_limiter import VenueLimiter


class VirtualTime:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_weighted_window_grants_up_to_its_capacity_at_once_then_waits_for_the_oldest() -> None:
    time = VirtualTime()
    window = WindowLimiter(100, 60.0, clock=time.clock, sleep=time.sleep)
    granted = []
    for weight in (40, 10, 50, 30):
        await window.acquire(weight)
        granted.append((time.now, weight))

    # 100 fits at t=0; the 30 waits until the 40 granted at t=0 leaves the window.
    assert granted == [(0.0, 40), (0.0, 10), (0.0, 50), (60.0, 30)]
    assert window.used() == 30  # the three granted at t=0 have left


async def test_weighted_window_waits_for_as_many_grants_as_the_weight_needs() -> None:
    time = VirtualTime()
    window = WindowLimiter(10, 5.0, clock=time.clock, sleep=time.sleep)
    for _ in range(10):
        await window.acquire(1)
        time.now += 0.5  # one a half-second: 0.0 .. 4.5
    await window.acquire(4)  # needs the four oldest (0.0 .. 1.5) gone: at 6.5
    assert time.now == pytest.approx(6.5)


async def test_weight_above_the_window_waits_for_an_empty_window_instead_of_forever() -> None:
    time = VirtualTime()
    window = WindowLimiter(20, 1.0, clock=time.clock, sleep=time.sleep)
    await window.acquire(5)
    await window.acquire(40)
    assert time.now == pytest.approx(1.0)


def test_binance_weights_follow_the_documented_table() -> None:
    weight = BINANCE_USDM.rate_windows[0]
    assert weight.limit == 2400 and weight.window_s == 60.0
    assert weight.weight_of("ticker/24hr", {}) == 40
    assert weight.weight_of("ticker/24hr", {"symbol": "BTCUSDT"}) == 1
    assert weight.weight_of("premiumIndex", {}) == 10
    assert weight.weight_of("openInterest", {"symbol": "BTCUSDT"}) == 1
    assert weight.weight_of("fundingInfo", {}) == 0
    assert weight.weight_of("somethingNew", {}) == 1  # unlisted paths are charged, not free


def test_a_500_symbol_binance_cycle_weighs_550() -> None:
    limiter = VenueLimiter(BINANCE_USDM.rate_windows)
    paths = [("premiumIndex", {}), ("ticker/24hr", {}), ("fundingInfo", {})]
    paths += [("openInterest", {"symbol": f"S{i}USDT"}) for i in range(500)]
    weight = BINANCE_USDM.rate_windows[0]
    assert sum(weight.weight_of(path, params) or 0 for path, params in paths) == 550
    # fundingInfo: weight 0, but one of its own 500 per 5 minutes.
    assert [w for _, w in limiter.charge("fundingInfo", {})] == [0, 1]


def test_each_venue_limiter_covers_every_cycle_request() -> None:
    assert VenueLimiter(BYBIT.rate_windows).charge("v5/market/tickers", {"category": "linear"})
    okx = VenueLimiter(OKX.rate_windows)
    for path in (
        "public/funding-rate",
        "public/mark-price",
        "market/index-tickers",
        "public/open-interest",
        "market/tickers",
    ):
        assert len(okx.charge(path, {})) == 1, path
    assert okx.charge("public/status", {}) == ()  # not covered: ccxt's own throttle paces it


async def test_venue_limiter_spends_only_its_share_of_each_window() -> None:
    time = VirtualTime()
    windows = (RateWindow("ip", 100, 10.0, other=1), RateWindow("heavy", 10, 10.0, {"heavy": Weight(1)}))
    limiter = VenueLimiter(windows, share=0.5, margin_s=0.0, clock=time.clock, sleep=time.sleep)
    for _ in range(5):
        await limiter.acquire(limiter.charge("heavy", {}))
    assert time.now == 0.0
    await limiter.acquire(limiter.charge("heavy", {}))  # the sixth: over half of 10
    assert time.now == pytest.approx(10.0)
    # Counted in both windows when it went, not when it started waiting.
    assert limiter.used() == {"ip": 1, "heavy": 1}


def test_share_must_be_a_fraction() -> None:
    with pytest.raises(ValueError, match="share"):
        VenueLimiter(BYBIT.rate_windows, share=1.5)


async def test_weight_counts_from_the_answer_so_a_late_arrival_cannot_share_a_window() -> None:
    time = VirtualTime()
    window = WindowLimiter(10, 5.0, clock=time.clock, sleep=time.sleep)
    grant = await window.acquire(10)
    time.now = 2.0  # the request left late, or took long: answered at 2
    window.settle(grant)
    await window.acquire(1)
    assert time.now == pytest.approx(7.0)  # a window after the answer, not after the grant


async def test_venue_limiter_settles_every_window_of_a_request() -> None:
    time = VirtualTime()
    windows = (RateWindow("a", 2, 10.0, other=1), RateWindow("b", 2, 4.0, other=1))
    limiter = VenueLimiter(windows, share=0.5, margin_s=0.0, clock=time.clock, sleep=time.sleep)
    grants = await limiter.acquire(limiter.charge("x", {}))
    time.now = 3.0
    limiter.settle(grants)
    await limiter.acquire(limiter.charge("x", {}))
    assert time.now == pytest.approx(13.0)  # window "a" counts it from 3
