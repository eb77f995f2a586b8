"""The demo's synthetic Bybit- and OKX-style venues, derived from the replay market."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.collector.replay import ReplayMarket
from bot.collector.replay_venues import SYNTHETIC_BOOKS, demo_venues, derive
from bot.core.instruments import Listing, build
from bot.core.market import MarketSnapshot

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
BYBIT, OKX = SYNTHETIC_BOOKS


def snap(symbol: str, ts: datetime = T0, *, mark: float = 0.0201, index: float = 0.02) -> MarketSnapshot:
    return MarketSnapshot(
        "replay", symbol, ts, 5_000_000.0, 5_000_000.0 * mark, mark, index, mark, 0.0002, 4.0, None, 1e6
    )


def test_okx_lists_the_token_itself_priced_and_counted_per_token_on_its_own_book() -> None:
    derived = derive(snap("1000BONKUSDT"), OKX)
    assert derived is not None
    assert derived.exchange == "replay-okx" and derived.symbol == "BONK-USDT-SWAP"
    assert derived.index_price == pytest.approx(0.02 / 1000)  # the same index, per token
    assert derived.oi_contracts == pytest.approx(5_000_000.0 * 1000 * OKX.oi_share)
    assert derived.mark_price == pytest.approx(0.02 / 1000 * (1.0 + 0.005 + OKX.basis_add))
    assert derived.oi_usd == pytest.approx(derived.oi_contracts * derived.mark_price)  # type: ignore[operator]
    assert derived.funding_rate == pytest.approx(0.0002 + OKX.funding_add)
    assert derived.funding_interval_h == 4.0


def test_bybit_calls_1000shib_shib1000_with_its_own_share_funding_and_basis() -> None:
    derived = derive(snap("1000SHIBUSDT"), BYBIT)
    assert derived is not None
    assert (derived.exchange, derived.symbol) == ("replay-bybit", "SHIB1000USDT")
    assert derived.index_price == pytest.approx(0.02)
    assert derived.mark_price == pytest.approx(0.02 * (1.0 + 0.005 + BYBIT.basis_add))
    assert derived.oi_contracts == pytest.approx(5_000_000.0 * BYBIT.oi_share)
    assert derived.funding_rate == pytest.approx(0.0002 + BYBIT.funding_add)


def test_btc_is_on_every_venue_and_the_others_list_a_fixed_part_of_the_replay() -> None:
    market = ReplayMarket.bundled()
    symbols = market.symbols()
    for book in SYNTHETIC_BOOKS:
        listed = [s for s in symbols if book.lists(s)]
        assert "BTCUSDT" in listed
        assert 0.2 * len(symbols) < len(listed) < len(symbols)
        assert listed == [s for s in symbols if book.lists(s)]  # a function of the name alone


async def test_the_three_replayed_venues_map_onto_one_asset_each_with_agreeing_prices() -> None:
    market = ReplayMarket.bundled()
    sources = demo_venues(market)
    assert [s.exchange for s in sources] == ["replay", "replay-bybit", "replay-okx"]
    step = market.times()[-1]
    listings: list[Listing] = []
    marks: dict[tuple[str, str], float | None] = {}
    for source in sources:
        listings += [r for r in await source.listings() if isinstance(r, Listing)]
        report = await source.fetch_cycle(step)
        assert not report.failures
        marks.update({(source.exchange, s.symbol): s.mark_price for s in report.snapshots})
    mapped = build(listings, marks)
    assert mapped.venue_only == ()  # every name reads and every price agrees per token
    shib = sorted((m.listing.venue, m.listing.symbol, m.units) for m in mapped.assets["SHIB"])
    assert shib == [
        ("replay", "1000SHIBUSDT", 1000.0),
        ("replay-bybit", "SHIB1000USDT", 1000.0),
        ("replay-okx", "SHIB-USDT-SWAP", 1.0),
    ]
    assert all(len({m.listing.venue for m in ms}) == len(ms) for ms in mapped.assets.values())
    assert {m.listing.venue for m in mapped.assets["BTC"]} == {"replay", "replay-bybit", "replay-okx"}


async def test_a_venue_backfill_leaves_the_step_being_collected_to_the_cycle() -> None:
    market = ReplayMarket.bundled()
    source = demo_venues(market)[0]
    step = market.times()[-1]
    points = await source.fetch_oi_history("BTCUSDT", step - timedelta(hours=1), step)
    assert points and max(p.ts for p in points) == step - timedelta(minutes=5)
