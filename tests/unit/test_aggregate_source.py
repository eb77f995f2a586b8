"""The aggregate as a market source: members from listings and prices, sums from stored
snapshots, a venue missing or down, the derived history, and venue-only listings logged once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.app.aggregate import AggregateSource
from bot.core.collection import OiPoint
from bot.core.instruments import Listing, VenueOnly
from bot.core.market import MarketSnapshot
from bot.errors import SourceError
from tests.fakes.clock import FakeClock
from tests.fakes.market_stores import FakeSnapshotStore

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


class Listed:
    """A venue's listings; ``down`` makes ``listings`` fail as the ccxt source does."""

    def __init__(self, *items: Listing | VenueOnly) -> None:
        self.items = list(items)
        self.down = False

    async def listings(self) -> list[Listing | VenueOnly]:
        if self.down:
            raise SourceError("venue down")
        return list(self.items)


def snap(
    venue: str, symbol: str, ts: datetime, oi: float, mark: float, rate: float = 0.0001
) -> MarketSnapshot:
    return MarketSnapshot(venue, symbol, ts, oi, oi * mark, mark, mark / 1.001, mark, rate, 8.0, None, 1e6)


@pytest.fixture
def world() -> tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]]:
    venues = {
        "binanceusdm": Listed(
            Listing("binanceusdm", "BTCUSDT", "BTC"), Listing("binanceusdm", "1000SHIBUSDT", "1000SHIB")
        ),
        "bybit": Listed(
            Listing("bybit", "BTCUSDT", "BTC"),
            Listing("bybit", "SHIB1000USDT", "SHIB1000"),
            Listing("bybit", "FAKEUSDT", "FAKE"),  # another token under a name Binance uses
        ),
        "okx": Listed(
            Listing("okx", "BTC-USDT-SWAP", "BTC"),
            VenueOnly(Listing("okx", "ODD-USDT-SWAP", "ODD"), "contract value counted in 'USDT', not in ODD"),
        ),
    }
    venues["binanceusdm"].items.append(Listing("binanceusdm", "FAKEUSDT", "FAKE"))
    store = FakeSnapshotStore()
    clock = FakeClock(T0)
    store.add_snapshots(
        [
            snap("binanceusdm", "BTCUSDT", T0 - timedelta(seconds=20), 100.0, 90_000.0),
            snap("binanceusdm", "1000SHIBUSDT", T0 - timedelta(seconds=20), 2e9, 0.0125),
            snap("binanceusdm", "FAKEUSDT", T0 - timedelta(seconds=20), 10.0, 1.0),
            snap("bybit", "BTCUSDT", T0 - timedelta(seconds=10), 50.0, 90_100.0, rate=0.0004),
            snap("bybit", "SHIB1000USDT", T0 - timedelta(seconds=10), 1e9, 0.01251),
            snap("bybit", "FAKEUSDT", T0 - timedelta(seconds=10), 10.0, 5.0),
            snap("okx", "BTC-USDT-SWAP", T0 - timedelta(seconds=5), 50.0, 89_900.0),
            snap("okx", "ODD-USDT-SWAP", T0 - timedelta(seconds=5), 5.0, 1.0),
        ]
    )
    source = AggregateSource(venues, store, clock, fresh=2 * STEP, step=STEP)
    return source, store, clock, venues


async def test_members_join_by_name_and_price_and_the_rest_is_logged_once(
    world: tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, _, _, _ = world
    assert await source.load_universe() == ["BTC", "SHIB"]
    members = source.assets()
    assert [(m.listing.venue, m.listing.symbol, m.units) for m in members["SHIB"]] == [
        ("binanceusdm", "1000SHIBUSDT", 1e3),
        ("bybit", "SHIB1000USDT", 1e3),
    ]
    assert [m.listing.venue for m in members["BTC"]] == ["binanceusdm", "bybit", "okx"]
    await source.load_universe()
    logged = [r.message for r in caplog.records if "stays venue-only" in r.message]
    off = "is more than 5% from the venues' median 3"
    assert sorted(logged) == [
        f"aggregate: binanceusdm FAKEUSDT stays venue-only: price per FAKE 1 {off}",
        f"aggregate: bybit FAKEUSDT stays venue-only: price per FAKE 5 {off}",
        "aggregate: okx ODD-USDT-SWAP stays venue-only: contract value counted in 'USDT', not in ODD",
    ]


async def test_a_cycle_sums_each_assets_venues_and_a_missing_one_leaves_oi_out(
    world: tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]],
) -> None:
    source, store, clock, _ = world
    await source.load_universe()
    report = await source.fetch_cycle(T0)
    got = {s.symbol: s for s in report.snapshots}
    assert set(got) == {"BTC", "SHIB"}
    btc = got["BTC"]
    assert (btc.exchange, btc.ts) == ("all", T0)
    assert btc.oi_contracts == pytest.approx(200.0)
    usd = (100 * 90_000.0, 50 * 90_100.0, 50 * 89_900.0)
    assert btc.oi_usd == pytest.approx(sum(usd))
    assert btc.funding_rate == pytest.approx((0.0001 * usd[0] + 0.0004 * usd[1] + 0.0001 * usd[2]) / sum(usd))
    assert got["SHIB"].oi_contracts == pytest.approx(3e12)
    shares = [v.oi_share for v in source.latest["BTC"].venues]
    assert shares == pytest.approx([u / sum(usd) for u in usd])
    assert report.failures == () and report.warnings == ()

    # Ten minutes on, only Binance and OKX stored again: Bybit's BTC is too old to count.
    clock.advance(timedelta(minutes=10))
    now = clock.now()
    store.add_snapshots(
        [
            snap("binanceusdm", "BTCUSDT", now, 110.0, 91_000.0),
            snap("okx", "BTC-USDT-SWAP", now, 55.0, 91_000.0),
        ]
    )
    report = await source.fetch_cycle(now)
    later = {s.symbol: s for s in report.snapshots}
    assert later["BTC"].oi_contracts is None  # not a smaller sum read as positions closing
    assert later["BTC"].funding_rate == pytest.approx(0.0001)
    assert [(w.symbol, w.reason, w.detail) for w in report.warnings] == [
        ("BTC", "missing", "no open interest from bybit: sum left out")
    ]
    assert [(f.symbol, f.reason) for f in report.failures] == [("SHIB", "stale")]


async def test_members_stay_while_their_venue_is_down_and_leave_when_delisted(
    world: tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]],
) -> None:
    source, _, _, venues = world
    await source.load_universe()
    venues["bybit"].down = True
    await source.load_universe()
    assert [m.listing.venue for m in source.assets()["BTC"]] == ["binanceusdm", "bybit", "okx"]
    venues["bybit"].down = False
    venues["okx"].items = []  # delisted
    await source.load_universe()
    assert [m.listing.venue for m in source.assets()["BTC"]] == ["binanceusdm", "bybit"]


async def test_history_is_derived_from_the_members_stored_points(
    world: tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]],
) -> None:
    source, store, _, _ = world
    await source.load_universe()
    day_ago = T0 - timedelta(hours=24)
    store.add_snapshots(
        [
            snap("binanceusdm", "1000SHIBUSDT", day_ago + timedelta(seconds=30), 1e9, 0.012),
            snap("bybit", "SHIB1000USDT", day_ago + timedelta(seconds=90), 5e8, 0.012),
            snap("bybit", "SHIB1000USDT", day_ago + STEP, 6e8, 0.012),  # Binance has none then
        ]
    )
    history = await source.fetch_oi_history("SHIB", day_ago - timedelta(minutes=30), T0)
    assert history == [
        OiPoint(day_ago + timedelta(seconds=90), 1.5e12, None),
        OiPoint(T0 - timedelta(seconds=10), 3e12, None),
    ]
    assert await source.fetch_oi_history("NOPE", day_ago, T0) == []


async def test_a_backfill_reads_each_venues_window_once_for_every_asset(
    world: tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, store, _, _ = world
    await source.load_universe()
    reads: list[str] = []
    real = store.market_history

    def counted(exchange: str, *args: object, **kwargs: object) -> object:
        reads.append(exchange)
        return real(exchange, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "market_history", counted)
    since = T0 - timedelta(hours=24)
    got = await asyncio.gather(*(source.fetch_oi_history(a, since, T0) for a in ("BTC", "SHIB", "BTC")))
    assert sorted(reads) == ["binanceusdm", "bybit", "okx"]
    assert got[0] == [OiPoint(T0 - timedelta(seconds=5), 200.0, None)]
    assert got[1] == [OiPoint(T0 - timedelta(seconds=10), 3e12, None)]
    assert got[2] == got[0]


async def test_a_venue_joining_an_asset_later_is_logged(
    world: tuple[AggregateSource, FakeSnapshotStore, FakeClock, dict[str, Listed]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, store, _, venues = world
    await source.load_universe()
    venues["okx"].items.append(Listing("okx", "SHIB-USDT-SWAP", "SHIB"))
    store.add_snapshots([snap("okx", "SHIB-USDT-SWAP", T0, 1.2e12, 0.0000125)])
    await source.load_universe()
    assert [m.listing.venue for m in source.assets()["SHIB"]] == ["binanceusdm", "bybit", "okx"]
    joined = [r.message for r in caplog.records if " joins on " in r.message]
    assert joined == [
        "aggregate: SHIB joins on okx (SHIB-USDT-SWAP); its OI changes compare sums with and without it "
        "for the next 24 h"
    ]
