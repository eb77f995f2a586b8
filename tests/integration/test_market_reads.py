"""A command process and a collector on one database (SQLite and PostgreSQL): what the
command process shows follows what the collector stored, with the exchange's data clock
stalled so that the newest snapshot time never moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.app.views import ErrorKind, ScoreCardReply, TableReply
from bot.storage.facade import Storage, open_storage
from tests.fakes.scored_market import EXCHANGE, LATEST, ask, error_of, make_layer
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
