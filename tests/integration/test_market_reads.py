"""A command process and a collector on one database (SQLite and PostgreSQL): what the
command process shows follows what the collector stored, with the exchange's data clock
stalled so that the newest snapshot time never moves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from bot.app.views import ErrorKind, ScoreCardReply, TableReply
from bot.storage.facade import Storage, open_storage
from tests.fakes.scored_market import EXCHANGE, HISTORY, LATEST, STEP, ask, error_of, make_layer, populate
from tests.fakes.stalled_source import StalledSource, stalled_cycle

NOW = LATEST + timedelta(minutes=1)


@pytest.fixture
def two_processes(migrated_url: str) -> Iterator[tuple[Storage, Storage]]:
    """The collector's and the command process's own connections to one database."""
    collector, reader = open_storage(migrated_url, upgrade=False), open_storage(migrated_url, upgrade=False)
    try:
        yield collector, reader
    finally:
        collector.close()
        reader.close()


async def test_the_command_process_shows_what_the_collector_stored(
    two_processes: tuple[Storage, Storage],
) -> None:
    collector, reader = two_processes
    source = StalledSource(EXCHANGE, LATEST, failing={"ETHUSDT"})
    cycle = stalled_cycle(collector, source)
    layer = make_layer(reader)  # type: ignore[arg-type]  # the SQL stores stand in for the fakes

    await cycle.backfill(NOW)
    error_of(await ask(layer, "/top", now=NOW), ErrorKind.NO_DATA)

    await cycle.run(NOW)
    first = await ask(layer, "/top", now=NOW)
    assert isinstance(first, TableReply), first
    assert [row.symbol for row in first.table.rows] == ["BTCUSDT"]

    source.failing.clear()  # ETH answers again, at the same stalled data time
    later = NOW + timedelta(minutes=5)
    await cycle.run(later)
    assert reader.snapshots.latest_snapshot_time(EXCHANGE) == LATEST
    second = await ask(layer, "/top", now=later)
    assert isinstance(second, TableReply), second
    assert sorted(row.symbol for row in second.table.rows) == ["BTCUSDT", "ETHUSDT"]
    assert isinstance(await ask(layer, "/score", "eth", now=later), ScoreCardReply)


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(hours=1), timedelta(hours=24)])
async def test_score_shows_the_stores_own_card(migrated_url: str, gap: timedelta) -> None:
    """The card /score builds from the market it just checked and two short seeks is the one
    the store's ``score_card`` reads (its newest score, and those nearest 1h and 24h before)."""
    storage = open_storage(migrated_url, upgrade=False)
    try:
        # Every 15 minutes, but for the score at ``LATEST - gap`` (1h or 24h before the newest).
        step = timedelta(minutes=15)
        if gap:
            populate(storage, latest=LATEST - gap - step, history=HISTORY - gap - step)  # type: ignore[arg-type]
            populate(storage, history=gap - step)  # type: ignore[arg-type]
        else:
            populate(storage)  # type: ignore[arg-type]
        layer = make_layer(storage)  # type: ignore[arg-type]
        reply = await ask(layer, "/score", "btc", now=NOW)
        assert isinstance(reply, ScoreCardReply), reply
        assert reply.card.latest.ts == LATEST
        assert reply.card == storage.scores.score_card(EXCHANGE, "BTCUSDT", tolerance=timedelta(minutes=10))
        assert (reply.card.hour_ago is None, reply.card.day_ago is None) == (
            gap == timedelta(hours=1),
            gap == timedelta(hours=24),
        )
    finally:
        storage.close()


async def test_commands_after_a_refresh_send_no_statement_and_a_due_check_runs_off_the_loop(
    migrated_url: str,
) -> None:
    """The collecting process prepares the market after each cycle (``Queries.refresh``): the
    commands that follow send no statement at all. A market last checked long ago is
    checked again before a command answers, its statements in a worker thread."""
    storage = open_storage(migrated_url, upgrade=False)
    sent: list[int] = []

    def count(*_: object) -> None:
        sent.append(threading.get_ident())

    clock = [0.0]
    try:
        populate(storage)  # type: ignore[arg-type]
        layer = make_layer(storage, recheck=timedelta(seconds=2), monotonic=lambda: clock[0])  # type: ignore[arg-type]
        await ask(layer, "/top", now=NOW)
        populate(storage, latest=LATEST + STEP, history=timedelta(0))  # type: ignore[arg-type]
        layer.queries.refresh(EXCHANGE)
        later = NOW + STEP
        event.listen(storage.engine, "before_cursor_execute", count)
        try:
            clock[0] = 1.9
            top = await ask(layer, "/top", now=later)
            short = await ask(layer, "/top", "short", now=later)
            card = await ask(layer, "/score", "btc", now=later)
            assert sent == []
            clock[0] = 10.0  # checked too long ago: the command waits for a check
            await ask(layer, "/top", now=later)
            assert sent and threading.get_ident() not in sent  # the mark checked, off the loop
        finally:
            event.remove(storage.engine, "before_cursor_execute", count)
        assert isinstance(top, TableReply) and isinstance(short, TableReply)
        assert top.as_of == short.as_of == LATEST + STEP
        assert isinstance(card, ScoreCardReply), card
        assert card.card == storage.scores.score_card(EXCHANGE, "BTCUSDT", tolerance=timedelta(minutes=10))
    finally:
        storage.close()
