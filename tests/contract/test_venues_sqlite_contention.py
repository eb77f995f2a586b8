"""Three venues in one process on one SQLite file: their start-up backfills and cycles
all write at once, and every venue's cycles are stored.

The database URL sets a busy timeout of 0: a writer that met another's write
lock inside SQLite would fail at once with "database is locked". They do not meet there:
``write_transaction`` queues one process's writers in a FIFO lock first
(``bot.storage.write_queue``), so the count below is every round of every venue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import build_app
from bot.config import load_settings
from bot.roles import Role
from bot.runner import Process
from tests.contract.conftest import FAST
from tests.fakes.clock import FakeClock
from tests.fakes.exchange import FakeExchange

VENUES = ("binanceusdm", "bybit", "okx")
BTC = {"binanceusdm": "BTCUSDT", "bybit": "BTCUSDT", "okx": "BTC-USDT-SWAP"}
INTERVAL = timedelta(seconds=60)
# Off the 5-minute grid: a cycle's snapshot never shares its time with a backfilled point.
START = datetime(2026, 12, 4, 12, 0, 7, tzinfo=UTC)
ROUNDS = 4


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeExchange]]:
    servers = {venue: FakeExchange() for venue in VENUES}
    for server in servers.values():
        await server.start()
    yield servers
    for server in servers.values():
        await server.stop()


async def test_concurrent_backfills_and_cycles_store_every_venues_cycles(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    clock = FakeClock(START)
    for fake in fakes.values():
        fake.market.clock_ms = lambda: int(clock.now().timestamp() * 1000)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}?timeout=0",
        exchanges=",".join(VENUES),
        exchange_api_urls={venue: fakes[venue].url for venue in VENUES},
        collect_interval=int(INTERVAL.total_seconds()),
    )
    app = build_app(settings, clock=clock, role=Role.COLLECTOR, tuning=replace(FAST, breaker_cool_off_s=0.0))
    process = Process(app, backfill=True)
    storage = app.collector.storage
    try:
        await process.renew_leases()
        for n in range(ROUNDS):
            # As the schedule runs them: each venue's job its own task, all at once; the
            # first round is every venue's start-up backfill and first cycle.
            outcomes = await asyncio.gather(
                *(process.venue_cycle(c) for c in app.collectors), return_exceptions=True
            )
            assert outcomes == [None] * len(VENUES), f"round {n}: {outcomes}"
            clock.advance(INTERVAL)
        end = clock.now()
        for venue in VENUES:
            points = storage.snapshots.market_history(venue, START - timedelta(days=1), end, [BTC[venue]])
            times = [ts for ts, _ in points.oi[BTC[venue]]]
            cycles = [ts for ts in times if ts >= START]
            assert cycles == [START + n * INTERVAL for n in range(ROUNDS)], venue
            backfilled = [ts for ts in times if ts < START]
            assert len(backfilled) >= 24 * 12 - 1, f"{venue}: {len(backfilled)} backfilled points"
            assert storage.scores.latest_scores(venue, since=START + (ROUNDS - 1) * INTERVAL), venue
    finally:
        process.release_leases()
        await app.close()
