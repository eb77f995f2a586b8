"""Three live venues in one process: the bulk venues' reports come back after Binance's
per-symbol fetch, and a Binance that fails or is stuck holds them up no longer.

The real ccxt clients against the fake venues; Binance's OI answers are held by an event,
so the order shown does not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.collector.ccxt_source import CcxtSource, share_fetch_order
from bot.collector.errors import ExchangeUnavailableError
from bot.collector.fetch_order import FetchOrder
from bot.core.collection import FetchReport
from tests.contract.conftest import FAST, SourceFactory
from tests.fakes.exchange import FakeExchange
from tests.waiting import wait_for

VENUES = ("binanceusdm", "bybit", "okx")


async def venues(make_source: SourceFactory, order: FetchOrder) -> dict[str, CcxtSource]:
    # Answers held by a test's event must not time out meanwhile on a loaded machine.
    sources = {venue: make_source(venue, tuning=replace(FAST, timeout_s=60.0)) for venue in VENUES}
    for source in sources.values():
        await source.load_universe()  # start-up, not part of the order under test
        source.fetch_order = order
    return sources


def ended(log: list[str], venue: str, task: asyncio.Task[FetchReport]) -> None:
    task.add_done_callback(lambda _: log.append(venue))


async def test_the_bulk_venues_reports_come_back_after_binances_fetch(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    answered = asyncio.Event()
    fake.inject("openInterest", "delay", until=answered)
    order = FetchOrder(hold_s=60.0)
    sources = await venues(make_source, order)
    log: list[str] = []
    now = datetime.now(UTC)
    tasks = {venue: asyncio.create_task(s.fetch_cycle(now)) for venue, s in sources.items()}
    for venue, task in tasks.items():
        ended(log, venue, task)

    # Bybit's and OKX's answers are in, and their fetches wait on Binance's.
    await wait_for(lambda: order.waiting == 2, "the bulk venues waiting for Binance")
    assert fake.calls("tickers") and log == []
    answered.set()
    reports = {venue: await task for venue, task in tasks.items()}
    await wait_for(lambda: len(log) == 3, "every task's done callback")  # queued, not yet run
    assert log[0] == "binanceusdm" and sorted(log[1:]) == ["bybit", "okx"]
    expected = len(fake.market.instruments)
    assert {v: len(r.snapshots) for v, r in reports.items()} == dict.fromkeys(VENUES, expected)


async def test_a_failing_binance_holds_up_no_other(fake: FakeExchange, make_source: SourceFactory) -> None:
    # Binance's required bulk call fails on every try: its fetch ends in an error, which
    # lets the others go on (the release itself: tests/unit/test_fetch_order.py).
    fake.inject("premiumIndex", "status", status=503)
    order = FetchOrder(hold_s=600.0)  # released by the failure, never by the bound
    sources = await venues(make_source, order)
    now = datetime.now(UTC)
    tasks = {venue: asyncio.create_task(s.fetch_cycle(now)) for venue, s in sources.items()}
    with pytest.raises(ExchangeUnavailableError):
        await tasks["binanceusdm"]
    async with asyncio.timeout(60):
        for venue in ("bybit", "okx"):
            assert (await tasks[venue]).snapshots, venue
    assert order.long_in_flight == 0


async def test_a_stuck_binance_holds_the_others_hold_s_at_most(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    stuck = asyncio.Event()
    fake.inject("openInterest", "delay", until=stuck)
    order = FetchOrder(hold_s=0.2)
    sources = await venues(make_source, order)
    now = datetime.now(UTC)
    binance = asyncio.create_task(sources["binanceusdm"].fetch_cycle(now))
    await wait_for(lambda: order.long_in_flight == 1, "Binance's fetch under way")
    for venue in ("bybit", "okx"):
        assert (await sources[venue].fetch_cycle(now)).snapshots, venue
    assert not binance.done()  # they stored while Binance is still stuck
    stuck.set()
    await binance


async def test_only_several_live_venues_tuned_so_share_an_order(make_source: SourceFactory) -> None:
    untuned = [make_source(venue) for venue in VENUES]
    assert share_fetch_order(untuned) is None  # the default: every venue's fetch on its own
    assert all(s.fetch_order is None for s in untuned)
    tuning = replace(FAST, yield_to_long_fetch=True)
    alone = make_source("binanceusdm", tuning=tuning)
    assert share_fetch_order([alone]) is None and alone.fetch_order is None
    sources = [make_source(venue, tuning=tuning) for venue in VENUES]
    order = share_fetch_order([*sources, object()])  # a replay source is left alone
    assert order is not None
    assert all(s.fetch_order is order for s in sources)
    assert [s.long_fetch for s in sources] == [True, False, False]
