"""The source spends a share of each venue's published limit, not ccxt's fixed spacing.

The fake enforces the venues' limits and logs every request with its weight, so the
peak in any window is counted from what reached the "exchange".
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bot.collector.profiles import BINANCE_USDM, RateWindow
from tests.contract.conftest import FAST, SourceFactory
from tests.fakes.exchange import FakeExchange, FakeMarket


async def test_per_symbol_calls_overlap_whatever_ccxt_spacing_says(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market = FakeMarket.generated(12)
    fake.latency_s = 0.05
    # ccxt alone would start one request a second; the budget has room for all at once.
    source = make_source(tuning=replace(FAST, rate_limit_ms=1000))
    await source.load_universe()
    report = await source.fetch_cycle(datetime.now(UTC))

    assert len(report.snapshots) == 12
    assert fake.peak_in_flight["openInterest"] > 1
    assert not fake.refusals


async def test_back_to_back_cycles_never_spend_more_than_the_share_of_binance_weight(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market = FakeMarket.generated(30)  # a cycle weighs 10 + 40 + 30 = 80
    fake.weight_limit, fake.weight_window_s = 120, 2.0  # the fake refuses past 120 per 2 s
    documented = BINANCE_USDM.rate_windows[0]
    profile = replace(BINANCE_USDM, rate_windows=(replace(documented, limit=120, window_s=2.0),))
    source = make_source(profile=profile, tuning=replace(FAST, budget_share=0.5, budget_margin_s=0.2))
    await source.load_universe()
    for _ in range(2):
        report = await source.fetch_cycle(datetime.now(UTC))
        assert len(report.snapshots) == 30

    assert not fake.refusals
    assert 0 < fake.peak_weight(2.0, dialect="binance") <= 60


async def test_okx_cycles_back_to_back_stay_under_half_of_each_endpoint_limit(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source("okx")
    await source.load_universe()
    # funding-rate allows 10 per 2 s: eight cycles at once would be refused without our limiter.
    for _ in range(8):
        report = await source.fetch_cycle(datetime.now(UTC))
        assert report.snapshots

    assert not fake.refusals
    assert fake.peak_weight(2.0, key="funding-rate") <= 5
    assert fake.peak_weight(2.0, key="mark-price") <= 5


async def test_requests_no_published_limit_covers_keep_ccxts_throttle(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market = FakeMarket.generated(4)
    uncovered = replace(BINANCE_USDM, rate_windows=(RateWindow("only exchangeInfo", 2400, 60.0, other=None),))
    source = make_source(profile=uncovered, tuning=replace(FAST, rate_limit_ms=100, concurrency=8))
    await source.load_universe()
    await source.fetch_cycle(datetime.now(UTC))

    times = sorted(r.t for r in fake.calls("openInterest"))
    # ccxt spaces them 100 ms apart (per cost unit): four take at least 0.3 s.
    assert times[-1] - times[0] >= 0.25


async def test_the_cycle_knows_how_far_apart_its_oi_readings_were(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.latency_s = 0.02
    binance = make_source(tuning=replace(FAST, concurrency=1))  # one after another: spread out
    await binance.fetch_cycle(datetime.now(UTC))
    bybit = make_source("bybit")
    await bybit.fetch_cycle(datetime.now(UTC))

    arrivals = sorted(r.t for r in fake.calls("openInterest"))
    assert binance.last_oi_spread_s is not None
    assert binance.last_oi_spread_s >= (arrivals[-1] - arrivals[0]) * 0.9
    assert bybit.last_oi_spread_s == 0.0  # one bulk answer carries every symbol's OI
