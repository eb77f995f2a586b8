"""Several venues in one process (``EXCHANGES``), against three fake exchanges.

Each venue is its own fake server, so one can fail while the others answer. Every venue
collects through its own ccxt source, cycle, schedule job and lease: one venue down, slow
or refusing never delays or stops the others, and ``/status`` shows each one's freshness.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.views import StatusReply
from bot.bootstrap import App, build_app
from bot.config import Settings, load_settings
from bot.errors import DpsError
from bot.roles import Role
from bot.runner import Process, run
from bot.storage.facade import open_storage
from bot.web.payloads import status_json
from bot.web_launch import web_queries
from tests.contract.conftest import FAST
from tests.fakes.clock import FakeClock
from tests.fakes.exchange import FakeExchange, bybit
from tests.waiting import wait_for

VENUES = ("binanceusdm", "bybit", "okx")
INTERVAL = timedelta(seconds=60)
START = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def fakes() -> AsyncIterator[dict[str, FakeExchange]]:
    """One fake server per venue (each serves the same market in its own dialect)."""
    servers = {venue: FakeExchange() for venue in VENUES}
    for server in servers.values():
        await server.start()
    yield servers
    for server in servers.values():
        await server.stop()


def venue_settings(tmp_path: Path, fakes: dict[str, FakeExchange], **more: object) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchanges=",".join(VENUES),
        exchange_api_urls={venue: fake.url for venue, fake in fakes.items()},
        **more,
    )


def latest(app: App, venue: str) -> datetime | None:
    return app.collector.storage.snapshots.latest_snapshot_time(venue)


def status(app: App) -> StatusReply:
    return app.commands.queries.status(app.clock.now(), None)


async def tick(process: Process, clock: FakeClock, healthy: tuple[str, ...]) -> datetime:
    """One interval on: every venue's cycle starts as its own task, as the schedule runs them;
    the healthy venues must have stored this very cycle, whatever the others are doing."""
    now = clock.now()
    jobs = [asyncio.create_task(process.venue_cycle(c)) for c in process.app.collectors]
    await wait_for(
        lambda: all(latest(process.app, venue) == now for venue in healthy),
        lambda: f"{', '.join(healthy)} to store the cycle of {now:%H:%M} ({jobs})",
    )
    for job in jobs:
        await job  # before the clock moves on (the schedule never overlaps a venue's runs)
    return now


async def test_one_venue_answering_503_for_ten_minutes_leaves_the_others_collecting_on_time(
    fakes: dict[str, FakeExchange], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock(START)
    for fake in fakes.values():
        fake.market.clock_ms = lambda: int(clock.now().timestamp() * 1000)
    settings = venue_settings(tmp_path, fakes, collect_interval=int(INTERVAL.total_seconds()))
    # A breaker with no cool-off: the venue's first cycle after the outage tries at once.
    app = build_app(settings, clock=clock, role=Role.COLLECTOR, tuning=replace(FAST, breaker_cool_off_s=0.0))
    process = Process(app, backfill=True)
    try:
        assert sorted(await process.renew_leases()) == sorted(VENUES)  # one lease per venue
        first = await tick(process, clock, VENUES)
        assert status(app).fresh

        for route in bybit.ROUTES:  # Bybit is down: every endpoint answers 503
            fakes["bybit"].inject(route.key, "status", status=503)
        for _ in range(10):  # ten minutes, one cycle a minute
            clock.advance(INTERVAL)
            await process.renew_leases()
            await tick(process, clock, ("binanceusdm", "okx"))
        assert latest(app, "bybit") == first  # nothing stored while it was down
        assert fakes["bybit"].calls("tickers"), "Bybit was asked every cycle"
        during = status(app)
        assert {v.exchange: v.stale for v in during.venues} == {
            "binanceusdm": False,
            "bybit": True,
            "okx": False,
        }
        assert not during.fresh  # dps status exits 1: one venue is stale
        shown = await app.console.handle_line("/status") or ""
        assert "Venue bybit: 2026-12-04 12:00 UTC, 10 min ago — STALE" in shown, shown
        assert "Venue okx: 2026-12-04 12:10 UTC, 0s ago (fresh)" in shown, shown
        assert "Last cycle okx: cycle 2026-12-04 12:10 UTC" in shown, shown
        assert caplog.text.count("bybit: STALE: cycle failed") == 10
        # The API's status lists the same, venue by venue (the web has a read side of its own).
        api = status_json(web_queries(app).status(clock.now(), None))
        assert [(v["exchange"], v["stale"]) for v in api["venues"]] == [
            ("binanceusdm", False),
            ("bybit", True),
            ("okx", False),
        ]
        assert api["venues"][1]["age_seconds"] == 600

        fakes["bybit"].heal()  # back: the next cycle stores Bybit again
        clock.advance(INTERVAL)
        recovered = await tick(process, clock, VENUES)
        assert all(latest(app, venue) == recovered for venue in VENUES)
        assert status(app).fresh
    finally:
        process.release_leases()
        await app.close()
    for venue in VENUES:  # every cycle of the healthy venues, on its minute
        lines = [r.message for r in caplog.records if r.message.startswith(f"{venue}: cycle ")]
        assert len(lines) == (2 if venue == "bybit" else 12), lines


async def test_a_venue_down_at_start_up_joins_with_its_history_once_it_answers(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    clock = FakeClock(START)
    for fake in fakes.values():
        fake.market.clock_ms = lambda: int(clock.now().timestamp() * 1000)
    for route in bybit.ROUTES:  # down before the first cycle: no markets, no backfill
        fakes["bybit"].inject(route.key, "status", status=503)
    settings = venue_settings(tmp_path, fakes, collect_interval=int(INTERVAL.total_seconds()))
    app = build_app(settings, clock=clock, role=Role.COLLECTOR, tuning=replace(FAST, breaker_cool_off_s=0.0))
    process = Process(app, backfill=True)
    try:
        await process.renew_leases()
        jobs = {c.exchange: asyncio.create_task(process.venue_cycle(c)) for c in app.collectors}
        first = clock.now()
        await wait_for(lambda: latest(app, "binanceusdm") == first and latest(app, "okx") == first)
        await jobs["binanceusdm"]
        await jobs["okx"]
        with pytest.raises(DpsError, match="bybit"):  # the schedule logs it as that job's failure
            await jobs["bybit"]
        fakes["bybit"].heal()
        clock.advance(INTERVAL)
        await tick(process, clock, VENUES)
        # Its first universe counts as newly listed: a day of history is fetched with it.
        scores = app.collector.storage.scores.latest_scores("bybit", since=clock.now())
        assert scores and not any(r.result.partial for r in scores)
    finally:
        process.release_leases()
        await app.close()


def cycles(caplog: pytest.LogCaptureFixture, venue: str) -> int:
    return sum(r.message.startswith(f"{venue}: cycle ") for r in caplog.records)


@pytest.mark.slow
async def test_dps_run_collects_from_three_venues_and_a_slow_one_holds_up_no_other(
    fakes: dict[str, FakeExchange], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Bybit holds its bulk call (backfill and cycle both ask it) until Binance has run four
    # cycles, then answers each after 3 s: every cycle of Bybit lasts longer than the
    # interval, which the schedule shrinks to 2 s here. The hold is an event, not a time, so
    # a loaded machine cannot let Bybit finish early.
    held = asyncio.Event()
    fakes["bybit"].inject("tickers", "delay", delay_s=3.0, until=held)
    # In this process, its schedule on ``speed`` (a child per venue: test_venue_children.py).
    settings = venue_settings(tmp_path, fakes, collect_interval=60, venue_processes="one")
    stop = asyncio.Event()
    tuning = replace(FAST, timeout_s=120.0)  # slow, not failing
    task = asyncio.create_task(run(settings, role=Role.COLLECTOR, stop=stop, speed=30.0, tuning=tuning))
    try:
        await wait_for(lambda: cycles(caplog, "binanceusdm") >= 4, "four Binance cycles")
        # Had the venues' cycles been awaited together, Binance would still be at its first.
        assert cycles(caplog, "bybit") == 0
        held.set()
        await wait_for(lambda: cycles(caplog, "bybit") >= 1 and cycles(caplog, "okx") >= 1, "every venue")
        await wait_for(
            lambda: "job cycle:bybit skipped" in caplog.text, "a Bybit cycle outlasting its interval"
        )
    finally:
        stop.set()
        assert await asyncio.wait_for(task, timeout=60) == 0
    storage = open_storage(settings.database_url)
    try:
        for venue in VENUES:
            assert storage.snapshots.latest_snapshot_time(venue) is not None, venue
    finally:
        storage.close()
    assert "collects binanceusdm, bybit, okx, each under its own lease" in caplog.text
    assert "job cycle:bybit skipped: the previous run is still going" in caplog.text
    assert "job cycle:binanceusdm skipped" not in caplog.text
    holders = set()
    for venue in VENUES:
        taken = [
            r.message for r in caplog.records if r.message.startswith(f"lease collector:{venue} taken by")
        ]
        holders |= {line.split()[4] for line in taken}
        assert f"lease collector:{venue} released" in caplog.text
    assert len(holders) == 1, holders  # one process, one holder name in every lease line
    assert "Traceback" not in caplog.text
