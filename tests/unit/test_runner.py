"""The runner drives any ``bot.ports.ChatAdapter`` through its leases: start, switch, stop.

The chats here are plain fakes, no subclass of any real adapter: the runner must work
with whatever the composition root hands it, without asking what it is.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot import runner
from bot.app.lease import commands_lease
from bot.bootstrap import App, ChatDuty, build_app
from bot.collector.replay_source import ReplaySource
from bot.config import load_settings
from bot.core.records import ChatKey, Platform
from bot.core.send_outcome import PartAccepted, SendOutcome, Sent
from bot.errors import ChatPlatformError, StorageError
from bot.roles import Role
from bot.runner import Process
from tests.fakes.clock import FakeClock
from tests.fakes.leases import FakeLeaseStore

TTL = timedelta(seconds=90)


class FakeChat:
    """A chat platform as the runner sees it, recording what it is told."""

    def __init__(self, platform: Platform = Platform.TELEGRAM, *, refuse: str | None = None) -> None:
        self.platform = platform
        self.calls: list[str] = []
        self._refuse = refuse  # the call that fails, as a platform would

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self._refuse is not None and name.startswith(self._refuse):
            raise ChatPlatformError(f"{self.platform.value} refused {name}")

    async def start(self, serve_commands: bool) -> None:
        self._call(f"start serving={serve_commands}")

    async def serve_commands(self, on: bool) -> None:
        self._call(f"serve {on}")

    async def stop(self) -> None:
        self._call("stop")

    async def send(
        self,
        chat: ChatKey,
        payload: str,
        attachment: bytes | None = None,
        *,
        start: int = 0,
        on_part: PartAccepted | None = None,
    ) -> SendOutcome:
        return Sent()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _app(tmp_path: Path, clock: FakeClock, role: Role | None = None) -> App:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}", collector_lease_seconds=90)
    return build_app(settings, clock=clock, role=role, chart_dir=tmp_path / "charts")


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    built = await _app(tmp_path, clock)
    yield built
    await built.close()


def with_chats(app: App, store: FakeLeaseStore, *chats: FakeChat) -> Process:
    duties = [ChatDuty(chat, commands_lease(store, chat.platform.value, ttl=TTL)) for chat in chats]
    return Process(replace(app, chats=duties))


async def test_one_process_answers_commands_and_a_standby_takes_them_over_when_it_stops(
    app: App, clock: FakeClock
) -> None:
    store = FakeLeaseStore()
    first, second = FakeChat(), FakeChat()
    a, b = with_chats(app, store, first), with_chats(app, store, second)
    await a.start_chats()
    await b.start_chats()
    assert first.calls == ["start serving=True"]
    assert second.calls == ["start serving=False"]  # delivers only
    clock.advance(TTL / 3)
    await a.renew_leases()
    await b.renew_leases()
    assert first.calls[-1] == "serve True" and second.calls[-1] == "serve False"
    await a.stop_chats()
    a.release_leases()  # a clean stop hands over at once, not after a lease period
    await b.renew_leases()
    assert first.calls[-1] == "stop"
    assert second.calls[-1] == "serve True"


async def test_a_failed_start_stops_what_started_and_releases_the_leases(app: App, clock: FakeClock) -> None:
    store = FakeLeaseStore()
    telegram, discord = FakeChat(Platform.TELEGRAM), FakeChat(Platform.DISCORD, refuse="start")
    process = with_chats(app, store, telegram, discord)
    with pytest.raises(ChatPlatformError, match="discord refused start"):
        await process.start_chats()
    assert telegram.calls == ["start serving=True", "stop"]
    for platform in ("telegram", "discord"):  # a standby need not wait the lease out
        assert commands_lease(store, platform, ttl=TTL).hold(clock.now())


async def test_a_chat_that_cannot_switch_is_logged_and_the_others_still_switch(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    store = FakeLeaseStore()
    broken, fine = FakeChat(Platform.TELEGRAM, refuse="serve"), FakeChat(Platform.DISCORD)
    process = with_chats(app, store, broken, fine)
    await process.start_chats()
    await process.renew_leases()
    assert fine.calls[-1] == "serve True"
    assert "telegram:commands not switched: telegram refused serve True" in caplog.text


async def test_renewing_reports_a_collector_takeover_once(tmp_path: Path, clock: FakeClock) -> None:
    a = Process(await _app(tmp_path, clock, Role.COLLECTOR))
    b = Process(await _app(tmp_path, clock, Role.COLLECTOR))
    try:
        assert await a.renew_leases()  # the first holder takes it
        assert not await b.renew_leases()  # standby
        assert a.housekeeps() and not b.housekeeps()
        a.release_leases()
        assert await b.renew_leases()  # took over: the runner collects at once
        assert not await b.renew_leases()  # still held: nothing new
        assert b.housekeeps()
    finally:
        await a.app.close()
        await b.app.close()


async def test_a_stored_cycle_reads_the_shown_market_so_the_next_command_does_not(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}")
    replay = ReplaySource(symbols=settings.symbols, cycle_interval_s=settings.collect_interval)
    start = replay.market.first_time_with_history(24)
    assert start is not None
    clock = FakeClock(start)
    app = build_app(settings, clock=clock, replay=replay, chart_dir=tmp_path / "charts")
    try:
        process = Process(app)
        queries = app.commands.queries
        await process.cycle()
        assert queries.held() is None  # never shown: not read after the cycle
        first = queries.market()
        assert first is not None
        clock.advance(timedelta(minutes=5))
        await process.cycle()
        refreshed = queries.held(app.collector.exchange)
        assert refreshed is not None and refreshed is not first and refreshed.as_of > first.as_of
        mark = app.collector.storage.scores.score_mark(app.collector.exchange, queries._stale_after)
        assert refreshed.mark == mark
        assert queries.market() is refreshed  # the next command's check finds it read
    finally:
        await app.close()


async def test_each_stored_cycle_gives_the_heap_back_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}")
    replay = ReplaySource(symbols=settings.symbols, cycle_interval_s=settings.collect_interval)
    start = replay.market.first_time_with_history(24)
    assert start is not None
    clock = FakeClock(start)
    app = build_app(settings, clock=clock, replay=replay, chart_dir=tmp_path / "charts")
    given_on: list[threading.Thread] = []
    lines_then: list[str | None] = []  # the cycle's summary when the heap was given back

    def give_back() -> bool:
        given_on.append(threading.current_thread())
        lines_then.append(app.last_cycle.line)
        return True

    monkeypatch.setattr(runner.malloc_arenas, "give_back", give_back)
    try:
        process = Process(app)
        await process.cycle()
        assert len(given_on) == 1  # once a cycle
        first = lines_then[0]
        assert first is not None  # after the cycle was stored, not before
        clock.advance(timedelta(minutes=5))
        await process.cycle()
        assert len(given_on) == 2 and lines_then[1] != first
        assert threading.current_thread() not in given_on  # never on the event loop's thread
    finally:
        await app.close()


async def test_a_failed_cycle_is_logged_stale_with_the_data_age_read_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'dps.sqlite3'}")
    replay = ReplaySource(symbols=settings.symbols, cycle_interval_s=settings.collect_interval)
    start = replay.market.first_time_with_history(24)
    assert start is not None
    app = build_app(settings, clock=FakeClock(start), replay=replay, chart_dir=tmp_path / "charts")
    try:
        process = Process(app)
        collector = app.collector

        async def failing(now: datetime) -> None:
            raise StorageError("cannot store a cycle: disk I/O error")

        monkeypatch.setattr(collector.cycle, "run", failing)
        loop_thread = threading.current_thread()
        read_on: list[threading.Thread] = []

        def latest(exchange: str) -> datetime:
            read_on.append(threading.current_thread())
            raise StorageError("cannot read the newest snapshot time: disk I/O error")

        monkeypatch.setattr(collector.storage.snapshots, "latest_snapshot_time", latest)
        caplog.set_level("WARNING", logger="bot.runner")
        await process.cycle()  # the database failing twice still leaves the process running
        assert (
            "STALE: cycle failed (cannot store a cycle: disk I/O error); latest data unknown (" in caplog.text
        )
        assert read_on and loop_thread not in read_on
    finally:
        await app.close()
