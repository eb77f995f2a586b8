"""The replay source keeps the live source's contract over the recorded (synthetic) market."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.collector.replay import REPLAY_EXCHANGE, SYNTHETIC_LABEL, ReplayMarket
from bot.collector.replay_source import ReplaySource
from bot.core import collection as reasons
from bot.core.market import MarketSnapshot

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def _snap(symbol: str, ts: datetime, oi: float) -> MarketSnapshot:
    return MarketSnapshot(
        exchange=REPLAY_EXCHANGE,
        symbol=symbol,
        ts=ts,
        oi_contracts=oi,
        oi_usd=oi * 10.0,
        mark_price=10.0,
        index_price=9.99,
        last_price=10.0,
        funding_rate=0.0001,
        funding_interval_h=8.0,
        next_funding_time=T0 + timedelta(hours=4),
        volume_24h_usd=1e6,
    )


@pytest.fixture
def market() -> ReplayMarket:
    snaps = [_snap("AAAUSDT", T0 + i * STEP, 100.0 + i) for i in range(6)]
    snaps += [_snap("BBBUSDT", T0 + i * STEP, 50.0 + i) for i in range(6) if i != 3]  # a gap at step 3
    return ReplayMarket.from_snapshots(snaps)


async def test_one_step_per_cycle_driven_by_the_given_clock(market: ReplayMarket) -> None:
    source = ReplaySource(market)
    assert source.label == SYNTHETIC_LABEL
    assert await source.load_universe() == ["AAAUSDT", "BBBUSDT"]
    seen = []
    for i in range(4):
        report = await source.fetch_cycle(T0 + i * STEP + timedelta(minutes=2))  # between steps
        seen.append({s.symbol: s.ts for s in report.snapshots})
    assert [s["AAAUSDT"] for s in seen] == [T0 + i * STEP for i in range(4)]
    assert all(s.exchange == REPLAY_EXCHANGE for s in report.snapshots)
    assert [(f.symbol, f.reason) for f in report.failures] == [("BBBUSDT", reasons.REASON_MISSING)]
    assert report.requests == 0 and report.weight_used is None


async def test_before_the_recording_there_is_no_data(market: ReplayMarket) -> None:
    report = await ReplaySource(market).fetch_cycle(T0 - STEP)
    assert report.snapshots == ()
    assert {f.reason for f in report.failures} == {reasons.REASON_NO_DATA}


async def test_after_the_recording_ends_the_data_is_stale(market: ReplayMarket) -> None:
    source = ReplaySource(market, cycle_interval_s=300)
    last = T0 + 5 * STEP
    assert len((await source.fetch_cycle(last + timedelta(minutes=10))).snapshots) == 2
    report = await source.fetch_cycle(last + timedelta(minutes=11))
    assert report.snapshots == ()
    assert {f.reason for f in report.failures} == {reasons.REASON_STALE}


async def test_symbols_restrict_the_universe(market: ReplayMarket) -> None:
    source = ReplaySource(market, symbols=["bbbusdt", "ZZZUSDT"])
    assert await source.load_universe() == ["BBBUSDT"]
    report = await source.fetch_cycle(T0)
    assert [s.symbol for s in report.snapshots] == ["BBBUSDT"]


async def test_oi_history_serves_the_recording(market: ReplayMarket) -> None:
    source = ReplaySource(market)
    points = await source.fetch_oi_history("AAAUSDT", T0 + STEP, T0 + 3 * STEP)
    assert [(p.ts, p.oi_contracts, p.oi_usd) for p in points] == [
        (T0 + i * STEP, 100.0 + i, (100.0 + i) * 10.0) for i in (1, 2, 3)
    ]
    assert await source.fetch_oi_history("NOPEUSDT", T0, T0 + STEP) == []
    await source.close()


async def test_bundled_demo_market_plays_back() -> None:
    market = ReplayMarket.bundled()
    source = ReplaySource(market)
    universe = await source.load_universe()
    assert len(universe) > 10
    report = await source.fetch_cycle(market.times()[-1])
    assert {s.symbol for s in report.snapshots} | {f.symbol for f in report.failures} == set(universe)
    assert len(report.snapshots) >= len(universe) // 2
