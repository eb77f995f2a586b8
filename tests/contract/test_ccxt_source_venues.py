"""Venue details: OKX's settlement intervals, Bybit's IP ban, OI now and OI then on one
footing, and the contracts that are not USDT perpetuals.

The real ccxt client against the fake venues: what each venue lists and how ccxt parses
it decide what the collector keeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import aiohttp
import pytest

from bot.app.snapshot_scoring import ScoredSymbol, score_snapshot
from bot.collector.errors import ExchangeUnavailableError
from bot.core import collection as reasons
from bot.core.market import MarketSnapshot
from bot.core.oi_deltas import OiSample, oi_changes
from bot.core.params import DEFAULT_PARAMS
from tests.contract.conftest import FAST, SourceFactory
from tests.fakes.clock import FakeClock
from tests.fakes.exchange import FakeExchange, FakeInstrument, FakeMarket, binance, bybit, okx
from tests.fakes.exchange.limits import RequestLimit

EXCHANGES = ["binanceusdm", "bybit", "okx"]

# -- OKX settlement intervals ------------------------------------------------------------

FUNDING_8H = 0.003
"""A crowded book's funding per 8 h (0.3 %)."""


def _book(base: str, interval_h: int) -> FakeInstrument:
    # The same book on every footing: funding per interval scaled to pay FUNDING_8H per 8 h.
    return FakeInstrument(
        base, 100.0, basis=0.004, funding_rate=FUNDING_8H * interval_h / 8, interval_h=interval_h
    )


def _rising_history(snap: MarketSnapshot) -> list[OiSample]:
    """OI that built up steadily over the last day, ending at the snapshot's own reading."""
    assert snap.oi_contracts is not None
    return [
        (snap.ts - timedelta(hours=hours), snap.oi_contracts / growth)
        for hours, growth in ((24, 1.30), (4, 1.12), (1, 1.04))
    ]


def _score(snap: MarketSnapshot) -> ScoredSymbol:
    return score_snapshot(snap, _rising_history(snap), DEFAULT_PARAMS)


@pytest.mark.parametrize("interval_h", [6, 4, 2, 1])
async def test_okx_book_on_any_interval_scores_as_the_same_book_on_8h(
    interval_h: int, fake: FakeExchange, make_source: SourceFactory
) -> None:
    """ccxt names no 6 h interval (it passes '21600000' through); the settlement times do."""
    fake.market = FakeMarket({"AAA": _book("AAA", interval_h), "BBB": _book("BBB", 8)})
    report = await make_source("okx").fetch_cycle(datetime.now(UTC))

    assert report.failures == ()
    assert report.warnings == ()
    snaps = {s.symbol: s for s in report.snapshots}
    book, same_on_8h = snaps["AAA-USDT-SWAP"], snaps["BBB-USDT-SWAP"]
    assert book.funding_interval_h == interval_h
    assert same_on_8h.funding_interval_h == 8

    scored, reference = _score(book).result, _score(same_on_8h).result
    assert not scored.partial and not reference.partial
    assert reference.score >= 60  # crowded: the comparison is not made on a quiet book
    assert (scored.score, scored.band, scored.bias, scored.regime) == (
        reference.score,
        reference.band,
        reference.bias,
        reference.regime,
    )
    assert scored.components.funding_8h_pct == pytest.approx(FUNDING_8H * 100)


async def test_okx_funding_rows_name_the_interval_by_their_settlement_times(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    """The fake answers as OKX does: the two settlement times are ``interval_h`` apart."""
    fake.market = FakeMarket({f"I{h}": _book(f"I{h}", h) for h in (8, 6, 4, 2, 1)})
    report = await make_source("okx").fetch_cycle(datetime.now(UTC))
    assert {s.symbol: s.funding_interval_h for s in report.snapshots} == {
        f"I{h}-USDT-SWAP": h for h in (8, 6, 4, 2, 1)
    }
    rows = fake.calls("funding-rate")
    assert rows and rows[-1].params == {"instId": "ANY"}


# -- Bybit's IP ban ----------------------------------------------------------------------

T = TypeVar("T")


async def _settled(call: Awaitable[T]) -> T:
    # The clock only moves when the test says: a source that waited out a short pause
    # would wait forever, so such a regression fails here instead of hanging the run.
    return await asyncio.wait_for(call, timeout=30)


async def test_bybit_ip_ban_pauses_the_venue_for_ten_minutes_and_is_logged_once(
    fake: FakeExchange, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Bybit's docs: over the IP limit, "403, access too frequent"; wait at least 10 minutes.

    No Retry-After comes with it: the default pause (10 s here would be 0.5 s) would send
    each cycle's requests into the ban until the breaker opened. The source and the fake
    read one controllable clock, so the ten minutes pass without sleeping.
    """
    clock = FakeClock()

    def seconds() -> float:
        return clock.now().timestamp()

    fake.clock = seconds
    source = make_source("bybit", clock=seconds)
    await source.load_universe()
    caplog.set_level(logging.INFO, logger="bot.collector")
    fake.windows.overrides["bybit-ip"] = RequestLimit(0, 5.0, "bybit-ip")  # the next request is one too many
    banned_at = seconds()

    with pytest.raises(ExchangeUnavailableError) as caught:
        await _settled(source.fetch_cycle(datetime.now(UTC)))
    assert (caught.value.kind, caught.value.http_status) == (reasons.REASON_RATE_LIMITED, 403)
    del fake.windows.overrides["bybit-ip"]  # from here on only the ban refuses
    sent = len(fake.requests)

    for _ in range(9):  # a cycle a minute, and a backfill, for nine minutes
        clock.advance(timedelta(minutes=1))
        with pytest.raises(ExchangeUnavailableError) as caught:
            await _settled(source.fetch_cycle(datetime.now(UTC)))
        assert caught.value.kind == reasons.REASON_PAUSED
        assert caught.value.retry_after is not None and caught.value.retry_after > FAST.max_pause_wait_s
        with pytest.raises(ExchangeUnavailableError):
            await source.fetch_oi_history(
                "BTCUSDT", datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)
            )
    assert len(fake.requests) == sent  # nothing was sent into the ban

    clock.advance(timedelta(minutes=1, seconds=1))  # ten minutes and a second after the 403
    report = await _settled(source.fetch_cycle(datetime.now(UTC)))
    assert len(report.snapshots) == 6
    # Refused: only the first cycle's requests, already on their way when the ban began.
    first_cycle = sent - len([r for r in fake.requests[:sent] if r.key == "instruments-info"])
    assert {(r.t, r.status) for r in fake.refusals} == {(banned_at, 403)}
    assert len(fake.refusals) == first_cycle

    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "banned" in m or "paused for" in m]) == 1
    assert [m for m in messages if "banned" in m] == [
        "bybit: IP banned (HTTP 403 without Retry-After, on fetch_funding_rates); "
        "no request for 600s, the ban's documented minimum"
    ]
    assert not [m for m in messages if "circuit opened" in m]


# -- OI now and OI then -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exchange", "symbol", "history_sides"),
    [
        ("binanceusdm", "BTCUSDT", 1.0),
        ("bybit", "BTCUSDT", 2.0),  # Bybit's documented "sum of both sides"
        ("bybit", "BTCUSDT", 1.0),  # history and tickers agree
        ("okx", "BTC-USDT-SWAP", 1.0),
    ],
)
async def test_first_day_oi_deltas_compare_like_with_like(
    exchange: str, symbol: str, history_sides: float, fake: FakeExchange, make_source: SourceFactory
) -> None:
    """Right after a backfill, the cycle's OI and the backfilled OI count the same thing.

    The fake's Bybit tickers count one side; its OI history both (mixed, the first day's
    deltas would read about -50 %) or the same. The fake's OI moves at most 5 % around its
    level over a day.
    """
    for inst in fake.market.instruments.values():
        inst.history_sides = history_sides
    source = make_source(exchange)
    until = datetime.now(UTC)
    history = await source.fetch_oi_history(symbol, until - timedelta(hours=25), until)
    report = await source.fetch_cycle(datetime.now(UTC))
    snap = next(s for s in report.snapshots if s.symbol == symbol)
    assert snap.oi_contracts is not None

    assert history
    points = [(p.ts, p.oi_contracts) for p in history if p.ts < snap.ts] + [(snap.ts, snap.oi_contracts)]
    changes = oi_changes(points, snap.ts)
    for change in (changes.h1_pct, changes.h4_pct, changes.h24_pct):
        assert change is not None and abs(change) < 11.0


@pytest.mark.parametrize("history_sides", [2.0, 1.0])
async def test_bybit_history_is_put_on_the_tickers_footing_point_by_point(
    history_sides: float, fake: FakeExchange, make_source: SourceFactory
) -> None:
    """Both sides are halved exactly, one side kept; the cycle still sends the tickers only."""
    for inst in fake.market.instruments.values():
        inst.history_sides = history_sides
    source = make_source("bybit")
    until = datetime.now(UTC)
    for inst in fake.market.trading():
        points = await source.fetch_oi_history(inst.binance_id, until - timedelta(hours=2), until)
        assert len(points) >= 20
        for p in points:
            single = inst.oi_at(int(p.ts.timestamp() * 1000))
            assert p.oi_contracts == pytest.approx(single, rel=1e-6)
    # Every symbol's history was compared with one tickers answer (reused for a minute).
    assert len(fake.calls("tickers")) == 1

    fake.requests.clear()
    report = await source.fetch_cycle(datetime.now(UTC))
    assert [r.key for r in fake.requests] == ["tickers"]
    btc = fake.market.instruments["BTC"]
    snap = next(s for s in report.snapshots if s.symbol == "BTCUSDT")
    assert snap.oi_contracts == pytest.approx(btc.oi_base, rel=1e-6)


@pytest.mark.parametrize("history_sides", [3.0, 1.4, 0.25])
async def test_bybit_history_that_agrees_with_neither_footing_is_not_backfilled(
    history_sides: float,
    fake: FakeExchange,
    make_source: SourceFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Junk (1/3, 0.7 or 4 times the tickers' OI): no backfill for that symbol, logged once."""
    fake.market.instruments["BTC"].history_sides = history_sides
    source = make_source("bybit")
    caplog.set_level(logging.WARNING, logger="bot.collector")
    until = datetime.now(UTC)
    for _ in range(2):  # a restart's or a new listing's backfill asks again
        assert await source.fetch_oi_history("BTCUSDT", until - timedelta(hours=2), until) == []
    others = await source.fetch_oi_history("ETHUSDT", until - timedelta(hours=2), until)
    assert others  # the other symbols are backfilled as usual

    warned = [r.getMessage() for r in caplog.records if "oi history" in r.getMessage()]
    assert len(warned) == 1
    assert "BTCUSDT" in warned[0] and "not backfilled" in warned[0]


# -- contracts that are not USDT perpetuals ----------------------------------------------


def _perp_ids(exchange: str, fake: FakeExchange) -> list[str]:
    return sorted(i.okx_id if exchange == "okx" else i.binance_id for i in fake.market.trading())


def _other_ids(exchange: str, fake: FakeExchange) -> list[str]:
    name = {"binanceusdm": binance.other_id, "bybit": bybit.other_id, "okx": okx.other_id}[exchange]
    return [i for i in map(name, fake.market.others) if i is not None]


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_only_usdt_perpetuals_enter_the_universe_and_the_cycle(
    exchange: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    """Inverse and USDC swaps, dated futures, pre-launch contracts: listed, never collected.

    They out-trade every perpetual (the top-N ranking would pick them first) and pay an
    extreme funding (scored, they would top every list).
    """
    assert {o.kind for o in fake.market.others} == {"inverse_swap", "usdc_swap", "dated_future", "prelaunch"}
    source = make_source(exchange, top_n=100)
    universe = await source.load_universe()
    assert sorted(universe) == _perp_ids(exchange, fake)

    report = await source.fetch_cycle(datetime.now(UTC))
    assert sorted(s.symbol for s in report.snapshots) == _perp_ids(exchange, fake)
    assert report.failures == ()


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_asking_for_other_contracts_by_name_collects_none_of_them(
    exchange: str, fake: FakeExchange, make_source: SourceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    others = _other_ids(exchange, fake)
    perp = _perp_ids(exchange, fake)[0]
    universe = await make_source(exchange, symbols=[*others, perp]).load_universe()
    assert universe == [perp]
    skipped = [r.getMessage() for r in caplog.records if "not a trading USDT perpetual" in r.getMessage()]
    assert len(skipped) == len(others)


@pytest.mark.parametrize(
    ("path", "params", "listed"),
    [
        ("/fapi/v1/exchangeInfo", {}, {"BTCUSDC", "BTCUSDT_261225", "NEWCOINUSDT"}),
        ("/v5/market/instruments-info", {"category": "linear"}, {"BTCPERP", "BTCUSDT-25DEC26"}),
        ("/v5/market/instruments-info", {"category": "linear", "status": "PreLaunch"}, {"NEWCOINUSDT"}),
        ("/v5/market/instruments-info", {"category": "inverse"}, {"BTCUSD"}),
        (
            "/api/v5/public/instruments",
            {"instType": "SWAP"},
            {"BTC-USD-SWAP", "BTC-USDC-SWAP", "NEWCOIN-USDT-SWAP", "ETH-USD_UM-SWAP"},
        ),
        ("/api/v5/public/instruments", {"instType": "FUTURES"}, {"BTC-USDT-261225"}),
    ],
)
async def test_the_fakes_list_what_the_venues_list(
    path: str, params: dict[str, str], listed: set[str], fake: FakeExchange
) -> None:
    async with aiohttp.ClientSession() as http, http.get(fake.url + path, params=params) as resp:
        body = await resp.json()
    rows = body.get("symbols") or body.get("data") or body["result"]["list"]
    names = {r.get("symbol") or r.get("instId") for r in rows}
    assert listed <= names
    perps = {i.okx_id if "api/v5" in path else i.binance_id for i in fake.market.listed()}
    assert names - listed <= perps
