"""The breakdown under an aggregate's card: a line per venue, spreads, and the lone-venue flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.app.aggregate import AggregateSource
from bot.app.aggregate_view import asset_breakdown
from bot.core.aggregate import VenuePart, combine
from bot.core.aggregate_card import breakdown, breakdown_lines
from bot.core.instruments import Listing
from bot.core.market import MarketSnapshot
from bot.core.models import Band
from tests.fakes.clock import FakeClock
from tests.fakes.contract import record, result
from tests.fakes.market_stores import FakeScoreStore, FakeSnapshotStore

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def snap(venue: str, symbol: str, oi: float, mark: float, rate: float, premium: float) -> MarketSnapshot:
    return MarketSnapshot(
        venue,
        symbol,
        T0 - timedelta(seconds=5),
        oi,
        oi * mark,
        mark,
        mark / (1 + premium),
        mark,
        rate,
        8.0,
        None,
        1e6,
    )


# USD OI 31 M and 19 M: Bybit holds 38 % of the 50 M.
BOOKS = [
    snap("binanceusdm", "SHIBUSDT", 31e6, 1.0, 0.0001, 0.001),
    snap("bybit", "SHIBUSDT", 19e6, 1.0, 0.0006, 0.004),
]


def test_one_venue_stretched_alone_is_flagged_with_its_share() -> None:
    agg = combine("SHIB", [VenuePart(s.exchange, 1.0, s) for s in BOOKS], T0)
    venue_results = {
        ("binanceusdm", "SHIBUSDT"): result(12, band=Band.NEUTRAL),
        ("bybit", "SHIBUSDT"): result(47, band=Band.STRETCHED),
    }
    b = breakdown(agg, result(27, band=Band.LEAN), venue_results)
    assert breakdown_lines(b) == [
        "All venues: 27 lean",
        "Binance SHIBUSDT: 12 neutral · 62 % of OI · funding +0.0100 %/8h · basis +0.10 %",
        "Bybit SHIBUSDT: 47 stretched · 38 % of OI · funding +0.0600 %/8h · basis +0.40 %",
        "Spread across venues: funding 0.0500 pt/8h · basis 0.30 pt",
        "Stretched on Bybit only, 38 % of OI",
    ]


def test_no_flag_when_both_are_stretched_and_a_dash_for_a_venue_without_a_score() -> None:
    agg = combine("SHIB", [VenuePart(s.exchange, 1.0, s) for s in BOOKS], T0)
    both = {
        ("binanceusdm", "SHIBUSDT"): result(40, band=Band.STRETCHED),
        ("bybit", "SHIBUSDT"): result(61, band=Band.STRESSED),
    }
    assert breakdown(agg, result(50, band=Band.STRETCHED), both).lone is None
    lines = breakdown_lines(breakdown(agg, result(50, band=Band.STRETCHED), {}))
    assert lines[1].startswith("Binance SHIBUSDT: – · 62 % of OI")
    assert not any("only" in line for line in lines)


class Listed:
    def __init__(self, *items: Listing) -> None:
        self.items = list(items)

    async def listings(self) -> list[Listing]:
        return list(self.items)


async def test_the_breakdown_reads_the_sources_last_aggregate_and_the_venues_scores() -> None:
    snapshots, scores = FakeSnapshotStore(), FakeScoreStore()
    snapshots.add_snapshots(BOOKS)
    venues = {v: Listed(Listing(v, "SHIBUSDT", "SHIB")) for v in ("binanceusdm", "bybit")}
    source = AggregateSource(venues, snapshots, FakeClock(T0), fresh=2 * STEP, step=STEP)
    await source.load_universe()
    assert asset_breakdown(source, scores, "SHIB", T0, 2 * STEP) is None  # not aggregated yet
    await source.fetch_cycle(T0)
    assert asset_breakdown(source, scores, "SHIB", T0, 2 * STEP) is None  # no score of its own yet
    scores.insert(
        [
            record("SHIB", T0, result(27, band=Band.LEAN), exchange="all"),
            record("SHIBUSDT", T0 - timedelta(seconds=5), result(47, band=Band.STRETCHED), exchange="bybit"),
        ]
    )
    b = asset_breakdown(source, scores, "SHIB", T0, 2 * STEP)
    assert b is not None
    assert [(v.venue, v.score) for v in b.venues] == [("binanceusdm", None), ("bybit", 47)]
    assert b.lone is None  # Binance has no score: one scored venue is nothing to contrast
    assert breakdown_lines(b)[0] == "All venues: 27 lean"
