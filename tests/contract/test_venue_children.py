"""A collector process per venue under ``dps run`` (``VENUE_PROCESSES=per-venue``), against
three fake exchanges: ``dps run`` as a real process stores every venue's cycles and the
aggregate; a killed child comes back while the others keep their time; stopping or killing
the parent leaves no child. The children's configuration, wired in this process on a clock
the test moves: each alert goes out once, under its venue's title, digests and retention in
one process only.
"""

from __future__ import annotations

import json
import os
import re
import signal
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.bootstrap import App, build_app
from bot.config import Settings, load_settings
from bot.core.models import Band
from bot.core.records import ChatKey, ChatKind, ChatSettings, Platform
from bot.roles import Role
from bot.runner import Process
from bot.storage.facade import open_storage
from bot.venue_children import child_settings
from tests.contract import processes
from tests.contract.conftest import FAST
from tests.contract.test_aggregate_venues import INTERVAL, START, VENUES, fakes
from tests.fakes.clock import FakeClock
from tests.fakes.exchange import FakeExchange
from tests.waiting import wait_for

__all__ = ["fakes"]  # the fixture, shared with the aggregate's tests

FIRST_CYCLE = re.compile(r"(\w+)'s collector process \((\d+)\) stored its first cycle")
STARTED = re.compile(r"(\w+)'s collector process started \((\d+)\)")
REAL_INTERVAL = timedelta(seconds=30)  # COLLECT_INTERVAL's least


def _env(tmp_path: Path, fakes: dict[str, FakeExchange], *, lease_s: int = 6) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        "EXCHANGES": ",".join(VENUES),
        **{f"EXCHANGE_API_URLS__{venue.upper()}": fake.url for venue, fake in fakes.items()},
        "COLLECT_INTERVAL": str(int(REAL_INTERVAL.total_seconds())),
        "COLLECTOR_LEASE_SECONDS": str(lease_s),
    }


def _pids(bot: processes.Proc, pattern: re.Pattern[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for match in map(pattern.search, bot.lines):
        if match:
            found.setdefault(match[1], []).append(int(match[2]))
    return found


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie left to a parent that is no longer there."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _latest(db: Path, exchange: str) -> datetime | None:
    storage = open_storage(f"sqlite:///{db}")
    try:
        return storage.snapshots.latest_snapshot_time(exchange)
    finally:
        storage.close()


@pytest.mark.slow
async def test_dps_run_collects_each_venue_in_its_own_process_and_a_killed_one_comes_back(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    db = tmp_path / "dps.sqlite3"
    # The killed child's lease would hold its replacement off for ten minutes, far past this
    # test's waits: the parent gives it up once the child is reaped.
    bot = await processes.start("dps run", _env(tmp_path, fakes, lease_s=600), tmp_path, "all")
    try:
        await wait_for(
            lambda: set(_pids(bot, FIRST_CYCLE)) == set(VENUES) or not bot.alive(),
            lambda: f"every venue's child to store a cycle; it printed:\n{bot.log()}",
        )
        # The parent sums them once the round is stored, told by the children (no child does).
        await bot.wait_for("all: cycle ")
        stored = {venue: _latest(db, venue) for venue in (*VENUES, "all")}
        assert all(stored.values()), stored
        # At once, not at the aggregate job's next look (a quarter interval): the last child's
        # news starts it, its cycle taking well under a second here.
        last_venue = max(t for v, t in stored.items() if v != "all" and t is not None)
        assert stored["all"] is not None and timedelta(0) < stored["all"] - last_venue < REAL_INTERVAL / 6
        for venue in VENUES:  # every line a child logged names its venue
            assert any(f"[{venue}] bot.runner: {venue}: cycle " in line for line in bot.lines)
        assert bot.seen("collects binanceusdm, bybit, okx, each in a child process of its own") is not None

        [killed] = _pids(bot, FIRST_CYCLE)["bybit"]
        others = {venue: _latest(db, venue) for venue in ("binanceusdm", "okx")}
        os.kill(killed, signal.SIGKILL)
        await bot.wait_for("bybit's collector process exited")
        # The others' next cycles come at their times (a cycle is stored at its start's time),
        # not an interval late: Bybit's death is not theirs.
        await wait_for(
            lambda: all((_latest(db, v) or START) > t for v, t in others.items()) or not bot.alive(),
            lambda: f"Binance and OKX to store their next cycles; it printed:\n{bot.log()}",
        )
        for venue, before in others.items():
            after = _latest(db, venue)
            assert before is not None and after is not None
            assert after - before < 1.5 * REAL_INTERVAL, (venue, before, after)
        await wait_for(
            lambda: len(_pids(bot, FIRST_CYCLE)["bybit"]) == 2 or not bot.alive(),
            lambda: f"Bybit's new child to store a cycle; it printed:\n{bot.log()}",
        )
        assert bot.seen(f"held by bybit's dead child ({killed})") is not None
        children = [pid for pids in _pids(bot, STARTED).values() for pid in pids]
        assert killed in children and len(children) == 4
    finally:
        code = await processes.stop(bot)
    assert code == 0, bot.log()
    assert all(_gone(pid) for pid in children)
    # Only the killed child's exit was news: a child stopped with the parent is not restarted.
    assert sum("collector process exited" in line for line in bot.lines) == 1, bot.log()
    assert len(_pids(bot, STARTED)["bybit"]) == 2


@pytest.mark.slow
async def test_a_killed_dps_run_s_venue_children_exit_too(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    bot = await processes.start("dps run", _env(tmp_path, fakes), tmp_path, "all")
    try:
        await wait_for(
            lambda: set(_pids(bot, STARTED)) == set(VENUES) or not bot.alive(),
            lambda: f"every venue's child to start; it printed:\n{bot.log()}",
        )
        children = [pid for pids in _pids(bot, STARTED).values() for pid in pids]
        assert await processes.stop(bot, signal.SIGKILL) == -signal.SIGKILL
        # Nothing stopped them but their stdin, the parent's end closed by the kernel.
        await wait_for(
            lambda: all(_gone(pid) for pid in children), "the children to exit after the parent died"
        )
    finally:
        if bot.proc.returncode is None:
            await processes.stop(bot, signal.SIGKILL)


def _child_app(settings: Settings, venue: str, clock: FakeClock) -> App:
    """What ``python -m bot.venue_children VENUE`` builds, from the very bytes it is sent."""
    mine = load_settings(**json.loads(child_settings(settings, venue)))
    return build_app(mine, clock=clock, role=Role.COLLECTOR, tuning=replace(FAST, breaker_cool_off_s=0.0))


async def test_the_venues_children_and_their_parent_send_each_alert_once_under_its_venue_s_title(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    clock = FakeClock(START)
    for fake in fakes.values():
        fake.market.clock_ms = lambda: int(clock.now().timestamp() * 1000)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchanges=",".join(VENUES),
        exchange_api_urls={venue: fake.url for venue, fake in fakes.items()},
        collect_interval=int(INTERVAL.total_seconds()),
        telegram_bot_token="123:secret",  # noqa: S106 - the children must not get it
        web_port=8080,
    )
    assert settings.venue_children
    parent_app = build_app(
        settings, clock=clock, role=Role.COLLECTOR, tuning=replace(FAST, breaker_cool_off_s=0.0)
    )
    parent = Process(parent_app, backfill=True, local=())
    children = [Process(_child_app(settings, venue, clock), backfill=True) for venue in VENUES]
    storage = parent_app.collector.storage
    refs = {}
    for name, venues in (("default", frozenset()), ("bybit", frozenset({"bybit"}))):
        chat = storage.chats.ensure_chat(ChatKey(Platform.CONSOLE, name), kind=ChatKind.PRIVATE, now=START)
        storage.chats.save_settings(chat.ref, ChatSettings(min_band=Band.LEAN, alert_venues=venues))
        refs[name] = chat.ref

    async def round_of_children() -> None:
        for child in children:
            await child.venue_cycle(child.app.collector)
            venue = child.app.collector.exchange
            line = child.app.last_cycle.of(venue)
            assert line is not None
            await parent.child_cycle(venue, line)  # the child's stdout line, as dps run hears it
        clock.advance(timedelta(seconds=5))
        await parent.aggregate_cycle()

    try:
        for child, venue in zip(children, VENUES, strict=True):
            settings_of = child.app.settings
            assert settings_of.exchanges == list(VENUES) and settings_of.collect_venues == [venue]
            assert settings_of.telegram_bot_token is None and settings_of.web_port is None
            assert [c.exchange for c in child.app.collectors] == [venue]
            assert child.app.aggregate is None and child.app.webhooks is None and not child.app.chats
        for process in (parent, *children):
            await process.renew_leases()
        # Exactly one process sends the digests and purges: the aggregate's lease holder.
        assert parent.housekeeps() and not any(child.housekeeps() for child in children)
        assert parent.local_collectors() == []  # the parent holds no venue's lease: its children do
        await round_of_children()  # calm: nothing to say
        assert storage.outbox.status_counts() == {}
        # The parent's /status shows every venue fresh, with the cycle line its child sent.
        shown = parent_app.commands.queries.status(clock.now(), None)
        assert [(v.exchange, v.stale) for v in shown.venues] == [(v, False) for v in VENUES]
        assert all(v.last_cycle is not None and " scored=" in v.last_cycle for v in shown.venues)
        for fake in fakes.values():  # longs pile in everywhere: a band change, held two readings
            btc = fake.market.instruments["BTC"]
            btc.funding_rate, btc.basis = 0.003, 0.01
        for _ in range(2):
            clock.advance(INTERVAL)
            await round_of_children()
        queued = storage.outbox.claim_due(clock.now(), limit=50, claim_for=timedelta(minutes=1))
        by_chat: dict[int, list[str]] = {}
        for entry in queued:
            by_chat.setdefault(entry.chat_ref, []).append(entry.payload.title)
        assert by_chat == {
            refs["default"]: ["Derivatives Pressure alerts · all venues"],
            refs["bybit"]: ["Derivatives Pressure alerts · Bybit"],
        }
    finally:
        for process in (parent, *children):
            process.release_leases()
            await process.app.close()


def test_venue_processes_is_per_venue_by_default_and_only_splits_several_venues() -> None:
    several = load_settings(exchanges="binanceusdm,bybit")
    assert several.venue_processes == "per-venue" and several.venue_children
    assert not load_settings(exchanges="binanceusdm,bybit", venue_processes="one").venue_children
    assert not load_settings(exchanges="bybit").venue_children
    child = load_settings(exchanges="binanceusdm,bybit", collect_venues="Bybit")
    assert child.collect_venues == ["bybit"] and not child.venue_children  # a child has none of its own


def test_collect_venues_must_be_among_exchanges() -> None:
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="COLLECT_VENUES names okx, not in EXCHANGES"):
        load_settings(exchanges="binanceusdm,bybit", collect_venues="okx")
    with pytest.raises(ConfigError, match="VENUE_PROCESSES"):
        load_settings(venue_processes="two")


async def test_with_several_venues_only_the_aggregate_s_lease_holder_sends_digests_and_purges(
    fakes: dict[str, FakeExchange], tmp_path: Path
) -> None:
    clock = FakeClock(START)
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}",
        exchanges=",".join(VENUES),
        exchange_api_urls={venue: fake.url for venue, fake in fakes.items()},
        venue_processes="one",
    )
    a, b = (Process(build_app(settings, clock=clock, role=Role.COLLECTOR, tuning=FAST)) for _ in range(2))
    try:
        await a.renew_leases()  # a takes every lease
        first = a.app.collector  # the venue commands show, whose lease once decided it
        assert first.exchange == "binanceusdm" and first.lease is not None
        first.lease.release()
        assert await b.renew_leases() == ["binanceusdm"]  # b collects it now; a the rest and the aggregate
        assert a.housekeeps() and not b.housekeeps()
        a.release_leases()
        await b.renew_leases()
        assert b.housekeeps()
    finally:
        for process in (a, b):
            process.release_leases()
            await process.app.close()
