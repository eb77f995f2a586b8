"""Circuit breaker, request-weight budget, universe reloads and OI-history backfill."""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.collector.errors import ExchangeDataError, ExchangeUnavailableError
from bot.collector.profiles import BINANCE_USDM, OiHistory
from bot.core import collection as reasons
from bot.errors import SourceUnavailableError
from tests.contract.conftest import FAST, SourceFactory
from tests.fakes.exchange import FakeExchange, FakeInstrument
from tests.fakes.exchange.limits import RequestLimit

# -- circuit breaker -------------------------------------------------------------------


class StepClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_breaker_opens_fails_fast_then_closes(
    fake: FakeExchange, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    clock = StepClock()
    source = make_source("bybit", tuning=replace(FAST, breaker_cool_off_s=60.0), clock=clock)
    await source.load_universe()
    fake.inject("tickers", "status", status=503)
    caplog.set_level(logging.INFO, logger="bot.collector")

    for _ in range(FAST.breaker_threshold):
        with pytest.raises(SourceUnavailableError):
            await source.fetch_cycle(datetime.now(UTC))
    assert any("circuit opened" in r.getMessage() for r in caplog.records)

    sent = len(fake.requests)
    clock.now += 59.0  # still inside the cool-off
    with pytest.raises(ExchangeUnavailableError) as caught:
        await source.fetch_cycle(datetime.now(UTC))
    assert caught.value.kind == reasons.REASON_CIRCUIT_OPEN
    assert caught.value.retry_after == pytest.approx(1.0)
    assert len(fake.requests) == sent  # refused without a request

    fake.heal()
    clock.now += 1.0  # cool-off over: one trial call
    report = await source.fetch_cycle(datetime.now(UTC))
    assert len(report.snapshots) == 6
    assert len(fake.requests) > sent
    assert any("circuit closed" in r.getMessage() for r in caplog.records)


async def test_rate_limit_answers_never_open_the_circuit(
    fake: FakeExchange, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # More 429s than the breaker's threshold of calls could fail on: each one pauses the
    # exchange (Retry-After), and none counts as the exchange failing.
    source = make_source("bybit")
    await source.load_universe()
    fake.inject(
        "tickers",
        "status",
        status=429,
        headers={"Retry-After": "0"},
        times=FAST.breaker_threshold * FAST.max_attempts,
    )
    caplog.set_level(logging.INFO, logger="bot.collector")
    for _ in range(FAST.breaker_threshold):
        with pytest.raises(SourceUnavailableError):
            await source.fetch_cycle(datetime.now(UTC))
    assert not any("circuit opened" in r.getMessage() for r in caplog.records)
    assert (await source.fetch_cycle(datetime.now(UTC))).snapshots


async def test_one_bad_symbol_never_opens_the_circuit(fake: FakeExchange, make_source: SourceFactory) -> None:
    source = make_source()
    fake.inject("openInterest", "status", symbol="ETHUSDT", status=503)
    for _ in range(FAST.breaker_threshold + 1):
        report = await source.fetch_cycle(datetime.now(UTC))
        assert len(report.snapshots) == 5  # successes in between keep resetting the count


# -- request weight --------------------------------------------------------------------


def _span(fake: FakeExchange, key: str) -> float:
    times = [r.t for r in fake.calls(key)]
    return max(times) - min(times)


async def test_used_weight_header_slows_requests_before_the_limit(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    # One OI request at a time: the header of one answer can slow the next (requests
    # already on the wire when the reading arrives cannot be slowed).
    source = make_source(tuning=replace(FAST, concurrency=1))
    await source.load_universe()
    await source.fetch_cycle(datetime.now(UTC))

    fake.requests.clear()
    fake.weight_header = 2000  # 83 % of 2400: between soft (70 %) and hard (90 %)
    report = await source.fetch_cycle(datetime.now(UTC))

    assert len(report.snapshots) == 6
    assert report.weight_used == 2000
    per_request = FAST.weight.max_delay_s * (2000 / 2400 - 0.7) / (0.9 - 0.7)
    # Six OI requests, five gaps; one may be unslowed if a minute boundary passes mid-cycle.
    # (Unslowed, the six leave within a few ms.)
    assert _span(fake, "openInterest") >= 3 * per_request


async def test_used_weight_over_the_hard_limit_waits_for_the_next_window(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.weight_window_s = 2.0  # exchangeInfo will say REQUEST_WEIGHT per 2 SECOND
    source = make_source()
    await source.load_universe()
    fake.weight_header, fake.weight_header_times = 2300, 1  # one answer near the limit
    report = await source.fetch_cycle(datetime.now(UTC))

    assert len(report.snapshots) == 6
    first = fake.calls("premiumIndex")[0].wall
    boundary = math.ceil(first / 2.0) * 2.0
    assert all(r.wall >= boundary for r in fake.calls("openInterest"))


# -- universe --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exchange", "new", "gone"),
    [
        ("binanceusdm", "NEWUSDT", "XRPUSDT"),
        ("bybit", "NEWUSDT", "XRPUSDT"),
        ("okx", "NEW-USDT-SWAP", "XRP-USDT-SWAP"),
    ],
)
async def test_universe_reload_adds_listings_and_drops_delistings(
    exchange: str, new: str, gone: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source(exchange)
    assert gone in await source.load_universe()

    fake.market.add(FakeInstrument("NEW", 5.0, interval_h=4, oi_base=123.0))
    fake.market.delist("XRP")
    fake.market.instruments["ETH"].status = "settling"  # listed, not trading
    universe = await source.load_universe()

    assert new in universe and gone not in universe
    assert not any(s.startswith("ETH") for s in universe)
    report = await source.fetch_cycle(datetime.now(UTC))
    assert report.failures == ()
    assert {s.symbol for s in report.snapshots} == set(universe)
    assert next(s for s in report.snapshots if s.symbol == new).funding_interval_h == 4.0


async def test_symbol_delisted_between_reloads_is_reported_not_raised(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source()
    await source.load_universe()
    fake.market.delist("XRP")  # gone from every endpoint; openInterest says "Invalid symbol."
    report = await source.fetch_cycle(datetime.now(UTC))
    assert len(report.snapshots) == 5
    assert [f.symbol for f in report.failures] == ["XRPUSDT"]
    assert report.failures[0].reason in {reasons.REASON_MISSING, reasons.REASON_BAD_SYMBOL}
    assert "XRPUSDT" not in await source.load_universe()


# -- OI history ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exchange", "symbol", "endpoint", "pages"),
    [
        ("binanceusdm", "BTCUSDT", "openInterestHist", 1),  # 500 points per request
        ("bybit", "BTCUSDT", "open-interest", 2),  # 200
        ("okx", "BTC-USDT-SWAP", "open-interest-history", 3),  # 100
    ],
)
async def test_oi_history_backfills_24h_of_5_minute_points(
    exchange: str, symbol: str, endpoint: str, pages: int, fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source(exchange)
    until = datetime.now(UTC)
    since = until - timedelta(hours=24)

    points = await source.fetch_oi_history(symbol, since, until)

    assert len(points) == 288
    assert all(p.ts.tzinfo is not None and since <= p.ts <= until for p in points)
    assert all(b.ts - a.ts == timedelta(minutes=5) for a, b in itertools.pairwise(points))
    inst = fake.market.instruments["BTC"]
    for p in points[::50]:
        assert p.oi_contracts == pytest.approx(inst.oi_at(int(p.ts.timestamp() * 1000)), rel=1e-6)
        if exchange != "bybit":  # Bybit's history has no USD value
            assert p.oi_usd == pytest.approx(p.oi_contracts * inst.mark, rel=1e-6)
    assert len(fake.calls(endpoint)) == pages
    assert all(
        r.params.get("period", r.params.get("intervalTime")) in {"5m", "5min"} for r in fake.calls(endpoint)
    )


async def test_oi_history_has_its_own_limiter(fake: FakeExchange, make_source: SourceFactory) -> None:
    # Binance: openInterestHist has its own IP limit (1000 per 5 minutes), here shrunk alike
    # on both sides; the fake answers 429 (and bans repeaters) past it.
    fake.windows.overrides["futures/data"] = RequestLimit(2, 0.6, "futures/data")
    history = OiHistory(page_limit=500, max_requests=2, window_s=0.6, margin_s=0.1)
    source = make_source(profile=replace(BINANCE_USDM, oi_history=history))
    until = datetime.now(UTC)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"):
        assert await source.fetch_oi_history(symbol, until - timedelta(hours=1), until)
    assert len(fake.calls("openInterestHist")) == 4
    assert fake.refusals == []


async def test_oi_history_of_an_unknown_symbol_is_a_data_error(make_source: SourceFactory) -> None:
    until = datetime.now(UTC)
    with pytest.raises(ExchangeDataError):
        await make_source().fetch_oi_history("NOPEUSDT", until - timedelta(hours=1), until)
