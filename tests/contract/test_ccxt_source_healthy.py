"""A healthy cycle per exchange: the real ccxt client against the fake, values checked.

Each exchange speaks its own dialect (funding intervals from fundingInfo, market info or
funding times; OI in base units or contracts of ``ctVal``); the snapshots must come out
in one set of units.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.collector.replay import ReplayMarket
from bot.core.market import MarketSnapshot
from tests.contract.conftest import SourceFactory
from tests.fakes.exchange import FakeExchange, FakeInstrument, FakeMarket

EXCHANGES = ["binanceusdm", "bybit", "okx"]


def _id(exchange: str, inst: FakeInstrument) -> str:
    return inst.okx_id if exchange == "okx" else inst.binance_id


def _check(snap: MarketSnapshot, inst: FakeInstrument, now: datetime) -> None:
    assert snap.mark_price == pytest.approx(inst.mark, rel=1e-6)
    assert snap.index_price == pytest.approx(inst.index, rel=1e-6)
    assert snap.mark_price / snap.index_price - 1 == pytest.approx(inst.basis, abs=1e-6)
    assert snap.funding_rate == pytest.approx(inst.funding_rate, rel=1e-9)
    assert snap.funding_interval_h == inst.interval_h
    # OI in base units whatever the exchange counts in (OKX: contracts × ctVal).
    assert snap.oi_contracts == pytest.approx(inst.oi_base, rel=1e-6)
    assert snap.oi_usd == pytest.approx(inst.oi_base * inst.mark, rel=1e-6)
    assert snap.last_price == pytest.approx(inst.mark * 1.0001, rel=1e-6)
    assert snap.volume_24h_usd == pytest.approx(inst.volume_usd, rel=2e-4)
    assert snap.next_funding_time is not None
    assert snap.next_funding_time == datetime.fromtimestamp(
        inst.next_funding_ms(int(snap.ts.timestamp() * 1000)) / 1000, tz=UTC
    )
    assert snap.ts.tzinfo is not None
    assert abs(snap.ts - now) < timedelta(seconds=10)


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_healthy_cycle_normalises_every_symbol(
    exchange: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source(exchange)
    universe = await source.load_universe()
    insts = {_id(exchange, i): i for i in fake.market.trading()}
    assert sorted(universe) == sorted(insts)

    now = datetime.now(UTC)
    report = await source.fetch_cycle(now)

    assert report.failures == ()
    assert report.warnings == ()
    assert {s.symbol for s in report.snapshots} == set(insts)
    for snap in report.snapshots:
        assert snap.exchange == exchange
        _check(snap, insts[snap.symbol], now)
    intervals = {s.funding_interval_h for s in report.snapshots}
    assert intervals == {1.0, 4.0, 8.0}
    assert report.duration_s > 0


async def test_binance_uses_bulk_endpoints_and_per_symbol_oi_only(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source("binanceusdm")
    await source.load_universe()
    fake.requests.clear()

    report = await source.fetch_cycle(datetime.now(UTC))

    assert [r.params for r in fake.calls("premiumIndex")] == [{}]  # one call, all symbols
    assert [r.params for r in fake.calls("ticker/24hr")] == [{}]
    assert len(fake.calls("fundingInfo")) == 1
    assert sorted(r.params["symbol"] for r in fake.calls("openInterest")) == sorted(
        s.symbol for s in report.snapshots
    )
    assert report.requests == 3 + len(report.snapshots)
    # Binance's own weight count: premiumIndex 10 + ticker/24hr 40 + 1 per openInterest.
    assert report.weight_used is not None and report.weight_used >= 10 + 40 + 6

    fake.requests.clear()
    await source.fetch_cycle(datetime.now(UTC))
    assert fake.calls("fundingInfo") == []  # intervals are reused for an hour


async def test_binance_symbol_absent_from_funding_info_settles_every_8h(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source("binanceusdm")
    report = await source.fetch_cycle(datetime.now(UTC))
    by_symbol = {s.symbol: s for s in report.snapshots}
    assert by_symbol["BTCUSDT"].funding_interval_h == 8.0  # not listed in fundingInfo
    assert by_symbol["SOLUSDT"].funding_interval_h == 4.0  # adjusted, listed
    assert by_symbol["DOGEUSDT"].funding_interval_h == 1.0


@pytest.mark.parametrize(
    ("exchange", "keys"),
    [
        ("bybit", ["tickers"]),
        ("okx", ["funding-rate", "mark-price", "index-tickers", "okx-open-interest", "okx-tickers"]),
    ],
)
async def test_bybit_and_okx_cycles_are_bulk_only(
    exchange: str, keys: list[str], fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source(exchange)
    await source.load_universe()
    fake.requests.clear()

    report = await source.fetch_cycle(datetime.now(UTC))

    assert len(report.snapshots) == 6
    assert sorted(r.key for r in fake.requests) == sorted(keys)
    assert report.requests == len(keys)
    assert report.weight_used is None  # only Binance reports weight


async def test_okx_open_interest_is_contracts_times_contract_size(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    report = await make_source("okx").fetch_cycle(datetime.now(UTC))
    btc = next(s for s in report.snapshots if s.symbol == "BTC-USDT-SWAP")
    inst = fake.market.instruments["BTC"]
    assert inst.contract_size == 0.01
    assert inst.oi_contracts == pytest.approx(8_000_000)  # what OKX sends, in contracts
    assert btc.oi_contracts == pytest.approx(80_000)  # BTC


async def test_explicit_symbols_accept_ids_and_aliases(make_source: SourceFactory) -> None:
    source = make_source("okx", symbols=["btcusdt", "ETH/USDT:USDT", "SOL-USDT-SWAP", "NOPEUSDT"])
    assert await source.load_universe() == ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]
    report = await source.fetch_cycle(datetime.now(UTC))
    assert [s.symbol for s in report.snapshots] == ["BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"]


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_top_n_by_24h_quote_volume(exchange: str, make_source: SourceFactory) -> None:
    source = make_source(exchange, top_n=3)
    universe = await source.load_universe()
    # Volumes: BTC 9e9 > ETH 5e9 > SOL 2e9 > XRP 1e9 > ...
    assert [u.split("-")[0].removesuffix("USDT") for u in universe] == ["BTC", "ETH", "SOL"]


async def test_every_request_goes_to_the_overridden_url(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source("bybit")
    await source.load_universe()
    await source.fetch_cycle(datetime.now(UTC))
    assert fake.requests  # had any request gone to api.bybit.com, there is no internet: it would fail
    assert {r.key for r in fake.requests} == {"instruments-info", "tickers"}


async def test_binance_cycle_over_the_demo_market(fake: FakeExchange, make_source: SourceFactory) -> None:
    market = ReplayMarket.bundled()
    recorded = {s.symbol: s for s in market.snapshots_at(market.times()[-1]) if s.mark_price is not None}
    fake.market = FakeMarket.from_snapshots(recorded.values())

    report = await make_source().fetch_cycle(datetime.now(UTC))

    assert report.failures == ()
    assert {s.symbol for s in report.snapshots} == set(recorded)
    for snap in report.snapshots:
        want = recorded[snap.symbol]
        assert snap.funding_rate == pytest.approx(want.funding_rate or 0.0, abs=1e-8)
        assert snap.funding_interval_h == (want.funding_interval_h or 8.0)
        assert snap.mark_price == pytest.approx(want.mark_price, rel=1e-6)
        if want.index_price:
            assert snap.index_price == pytest.approx(want.index_price, rel=1e-6)
        assert snap.oi_contracts == pytest.approx(want.oi_contracts or 0.0, rel=1e-6, abs=1e-3)
