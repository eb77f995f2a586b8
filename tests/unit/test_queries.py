"""The market view behind /top, /score and /chart: what it shows as scores are stored.

The collection cycle is the real one, over the fake stores and a source whose data clock
has stopped (``tests/fakes/stalled_source.py``): the newest snapshot time never moves, yet
every read must show the scores that are stored.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.app.commands import CommandLayer
from bot.app.queries import Resolved
from bot.app.views import ChartReply, ErrorKind, ScoreCardReply, StatusReply, TableReply, TextReply
from bot.core.durations import age_text
from bot.render.text import render_text
from tests.fakes.scored_market import EXCHANGE, LATEST, ask, error_of, make_layer, populate
from tests.fakes.stalled_source import StalledSource, stalled_cycle
from tests.fakes.storage import FakeStorage

DATA_TIME = LATEST
"""Where the source's data clock stopped: the backfill's newest point and every cycle's data."""
NOW = DATA_TIME + timedelta(minutes=1)


def symbols_of(reply: object) -> list[str]:
    assert isinstance(reply, TableReply), reply
    return sorted(row.symbol for row in reply.table.rows)


async def test_top_before_the_first_cycle_then_after_it_while_the_data_clock_stalls() -> None:
    storage = FakeStorage()
    source = StalledSource(EXCHANGE, DATA_TIME)
    cycle = stalled_cycle(storage, source)
    layer = make_layer(storage)

    await cycle.backfill(NOW)
    assert storage.snapshots.latest_snapshot_time(EXCHANGE) == DATA_TIME  # the backfill's newest point
    for command, args in [("/top", ""), ("/score", "btc"), ("/chart", "btc")]:
        early = error_of(await ask(layer, command, args, now=NOW), ErrorKind.NO_DATA)
        assert "No scores yet" in early.message

    report = await cycle.run(NOW)
    assert report.scored == 2
    assert storage.snapshots.latest_snapshot_time(EXCHANGE) == DATA_TIME  # it did not move
    assert symbols_of(await ask(layer, "/top", now=NOW)) == ["BTCUSDT", "ETHUSDT"]
    card = await ask(layer, "/score", "eth", now=NOW)
    assert isinstance(card, ScoreCardReply) and card.card.latest.symbol == "ETHUSDT"
    assert isinstance(await ask(layer, "/chart", "btc", now=NOW), ChartReply)
    status = await ask(layer, "/status", now=NOW)
    assert isinstance(status, StatusReply) and status.symbols == 2


async def test_a_symbol_scored_later_at_the_same_data_time_shows_up() -> None:
    """The newest score time stays put too; the view still follows what was stored."""
    storage = FakeStorage()
    source = StalledSource(EXCHANGE, DATA_TIME, failing={"ETHUSDT"})
    cycle = stalled_cycle(storage, source)
    layer = make_layer(storage)
    await cycle.backfill(NOW)
    await cycle.run(NOW)
    assert symbols_of(await ask(layer, "/top", now=NOW)) == ["BTCUSDT"]
    error_of(await ask(layer, "/score", "eth", now=NOW), ErrorKind.UNKNOWN_SYMBOL)

    source.failing.clear()
    await cycle.run(NOW + timedelta(minutes=5))
    later = NOW + timedelta(minutes=5)
    assert symbols_of(await ask(layer, "/top", now=later)) == ["BTCUSDT", "ETHUSDT"]
    assert isinstance(await ask(layer, "/score", "eth", now=later), ScoreCardReply)


async def test_a_reader_in_another_process_sees_the_scores_a_collector_stored() -> None:
    """Two command layers over one store, as a chat process and `dps top` beside a collector:
    neither stores anything, and neither may keep answering from what it read before."""
    storage = FakeStorage()
    source = StalledSource(EXCHANGE, DATA_TIME)
    cycle = stalled_cycle(storage, source)
    chat_process, one_shot = make_layer(storage), make_layer(storage)
    await cycle.backfill(NOW)
    for reader in (chat_process, one_shot):
        error_of(await ask(reader, "/top", now=NOW), ErrorKind.NO_DATA)

    await cycle.run(NOW)  # the collector's commit; no reader is told about it
    for reader in (chat_process, one_shot):
        assert symbols_of(await ask(reader, "/top", now=NOW)) == ["BTCUSDT", "ETHUSDT"]
    late_reader = make_layer(storage)
    assert symbols_of(await ask(late_reader, "/top", now=NOW)) == ["BTCUSDT", "ETHUSDT"]


async def test_the_market_is_read_again_only_when_scores_were_stored(storage: FakeStorage) -> None:
    layer = make_layer(storage)
    first = layer.queries.market()
    assert first is not None
    assert layer.queries.market() is first  # nothing stored: the same read serves again
    populate(storage, symbols=("NEWUSDT",), history=timedelta(0))  # one score at LATEST
    again = layer.queries.market()
    assert again is not None and again is not first
    assert "NEWUSDT" in {r.symbol for r in again.records}


# --- old scores ----------------------------------------------------------------------------


@pytest.fixture
def storage() -> FakeStorage:
    return populate(FakeStorage())


@pytest.fixture
def stale_layer(storage: FakeStorage) -> CommandLayer:
    """Scores end at LATEST; a restart a day later backfilled snapshots up to then."""
    day_later = LATEST + timedelta(days=1, hours=3)
    source = StalledSource(EXCHANGE, day_later)
    storage.snapshots.add_snapshots([source._snapshot(s) for s in source.symbols])
    return make_layer(storage)


async def test_old_scores_are_shown_stale_with_their_age_never_as_none(stale_layer: CommandLayer) -> None:
    now = LATEST + timedelta(days=1, hours=3, minutes=5)
    reply = await ask(stale_layer, "/top", now=now)
    assert isinstance(reply, TableReply), reply
    assert reply.stale
    assert reply.as_of == LATEST
    assert "These scores are 1 d 3 h old." in reply.notes
    text = render_text(reply)
    assert "STALE" in text and "1 d 3 h old" in text
    assert "No scores yet" not in text
    card = await ask(stale_layer, "/score", "btc", now=now)
    assert isinstance(card, ScoreCardReply) and card.stale
    assert isinstance(await ask(stale_layer, "/chart", "btc 7d", now=now), ChartReply)


async def test_the_watchlist_shows_old_scores_too(stale_layer: CommandLayer) -> None:
    now = LATEST + timedelta(days=2)
    await ask(stale_layer, "/watch", "btc", now=now)
    reply = await ask(stale_layer, "/watchlist", now=now)
    assert isinstance(reply, TextReply)
    assert "BTCUSDT — " in render_text(reply) and "no current score" not in render_text(reply)


async def test_fresh_scores_carry_no_age_note(storage: FakeStorage) -> None:
    reply = await ask(make_layer(storage), "/top", now=LATEST + timedelta(minutes=10))
    assert isinstance(reply, TableReply)
    assert not reply.stale
    assert not any("old." in note for note in reply.notes)


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(seconds=-5), "0s"),
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=3), "3 h"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(days=2), "2 d"),
        (timedelta(days=2, hours=4, minutes=30), "2 d 4 h"),
    ],
)
def test_duration_words(age: timedelta, words: str) -> None:
    assert age_text(age) == words


# --- the score card ------------------------------------------------------------------------


class CountingScores:
    """The fake score store, counting what ``Queries`` asks it (delegates everything)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> object:
        self.calls.append(name)
        return getattr(self._inner, name)


@pytest.mark.parametrize(
    ("gap", "hour_ago", "day_ago"),
    [
        (timedelta(0), True, True),  # scores every 15 minutes: exactly 1h and 24h before
        (timedelta(hours=1), False, True),  # nothing within the 10-minute tolerance of 1h ago
        (timedelta(hours=24), True, False),
    ],
)
async def test_score_card_is_the_stores_card_without_reading_the_newest_score_again(
    gap: timedelta, hour_ago: bool, day_ago: bool
) -> None:
    storage = populate(FakeStorage())
    if gap:
        around = LATEST - gap
        rows = storage.scores.rows
        storage.scores.rows = {k: r for k, r in rows.items() if abs(r.ts - around) > timedelta(minutes=5)}
    counting = CountingScores(storage.scores)
    clock = [0.0]
    layer = make_layer(storage, recheck=timedelta(seconds=2), monotonic=lambda: clock[0])
    layer.queries._scores = counting  # type: ignore[assignment]
    for name in ("btc", "eth"):
        clock[0] += 10  # each command finds the market due for a check, and waits for it
        reply = await ask(layer, "/score", name, now=NOW)
        assert isinstance(reply, ScoreCardReply)
        symbol = reply.card.latest.symbol
        assert reply.card == storage.scores.score_card(EXCHANGE, symbol, tolerance=layer.queries._stale_after)
        assert (reply.card.hour_ago is not None, reply.card.day_ago is not None) == (hour_ago, day_ago)
    assert "score_card" not in counting.calls and "score_history" not in counting.calls
    assert counting.calls.count("score_mark") == 2  # one check per command, none for the card
    assert "scores_at" not in counting.calls  # the cards' past came with the market
    assert counting.calls.count("past_scores") == 1  # prepared once: the mark did not move


async def test_a_card_asked_by_name_checks_the_store_again(storage: FakeStorage) -> None:
    layer = make_layer(storage)
    queries = layer.queries
    assert queries.resolve("btc") == "BTCUSDT"
    populate(storage, symbols=("BTCUSDT",), latest=LATEST + timedelta(minutes=5), history=timedelta(0))
    assert queries.card("ETHUSDT", NOW) is not None
    later = queries.card("BTCUSDT", NOW)
    assert later is not None and later.card.latest.ts == LATEST + timedelta(minutes=5)


async def test_a_card_of_what_find_resolved_is_that_symbols_whatever_was_asked_between(
    storage: FakeStorage,
) -> None:
    """The hand-off from ``find`` to ``card`` is the value passed, not state left behind."""
    queries = make_layer(storage).queries
    btc, eth = queries.find("btc"), queries.find("eth")
    assert isinstance(btc, Resolved) and isinstance(eth, Resolved)
    assert (btc.symbol, btc.latest.ts, eth.symbol) == ("BTCUSDT", LATEST, "ETHUSDT")
    for found in (eth, btc, eth):
        reply = queries.card(found, NOW)
        assert reply is not None
        assert reply.card == storage.scores.score_card(
            EXCHANGE, found.symbol, tolerance=timedelta(minutes=10)
        )
    error_of(queries.find("nosuchcoin"), ErrorKind.UNKNOWN_SYMBOL)


async def test_refresh_reads_again_only_a_shown_market_whose_mark_moved(storage: FakeStorage) -> None:
    layer = make_layer(storage)
    queries = layer.queries
    counting = CountingScores(storage.scores)
    queries._scores = counting  # type: ignore[assignment]
    queries.refresh(EXCHANGE)
    assert counting.calls == []  # never shown here: nothing to keep read
    await ask(layer, "/top", "short", now=NOW)
    queries.refresh(EXCHANGE)
    assert counting.calls.count("latest_scores") == 1  # the mark did not move
    later = NOW + timedelta(minutes=5)
    populate(storage, latest=LATEST + timedelta(minutes=5), history=timedelta(0))
    queries.refresh(EXCHANGE)
    assert counting.calls.count("latest_scores") == 2
    asked = len(counting.calls)
    reply = await ask(layer, "/top", "short", now=later)
    assert "latest_scores" not in counting.calls[asked:]  # the command found it read
    fresh = await ask(make_layer(storage), "/top", "short", now=later)
    assert isinstance(reply, TableReply) and isinstance(fresh, TableReply)
    assert (reply.table, reply.as_of) == (fresh.table, fresh.as_of)
    assert reply.as_of == LATEST + timedelta(minutes=5)
