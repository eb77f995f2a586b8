"""Commands answered from the prepared markets: what they read, how fresh they are, and the
swap of a market prepared in one thread while another prepares it too.

The layer trusts a prepared market for ``recheck`` (2 s here) by a clock the test moves.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.commands import CommandLayer
from bot.app.queries import WAIT_AFTER
from bot.app.views import ErrorReply, ScoreCardReply, TableReply
from tests.fakes.contract import store_scores
from tests.fakes.scored_market import EXCHANGE, LATEST, STEP, ask, make_layer, populate, record
from tests.fakes.storage import FakeStorage
from tests.waiting import wait_for

RECHECK = timedelta(seconds=2)
READS = ("score_mark", "latest_scores", "past_scores", "scores_at", "score_card", "score_history")
WAIT_S = 30.0  # how long a thread is waited for before the test fails (never slept)


class Clock:
    """A monotonic clock in seconds that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def trusting_layer(storage: FakeStorage, clock: Clock) -> CommandLayer:
    return make_layer(storage, recheck=RECHECK, monotonic=clock)


def count_reads(storage: FakeStorage, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every read of the score store from now on: its name and the thread that sent it."""
    reads: list[tuple[str, int]] = []
    for name in READS:
        real = getattr(storage.scores, name)

        def counted(*a: Any, _real: Callable[..., Any] = real, _name: str = name, **kw: Any) -> Any:
            reads.append((_name, threading.get_ident()))
            return _real(*a, **kw)

        monkeypatch.setattr(storage.scores, name, counted)
    return reads


def next_cycle(storage: FakeStorage, cycles: int = 1) -> None:
    """Another collection stored, ``cycles`` steps after LATEST."""
    populate(storage, latest=LATEST + cycles * STEP, history=timedelta(0))


async def test_commands_after_a_refresh_read_nothing_and_show_the_new_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = populate(FakeStorage())
    clock = Clock()
    layer = trusting_layer(storage, clock)
    await ask(layer, "/top")  # the first command prepares the market
    next_cycle(storage)
    layer.queries.refresh(EXCHANGE)  # as the runner does off the loop after storing it
    reads = count_reads(storage, monkeypatch)
    now = LATEST + STEP + timedelta(minutes=1)
    clock.now = 1.9
    top, short, card = (
        await ask(layer, "/top", now=now),
        await ask(layer, "/top", "short", now=now),
        await ask(layer, "/score", "btc", now=now),
    )
    assert reads == []
    assert isinstance(top, TableReply) and isinstance(short, TableReply)
    assert top.as_of == short.as_of == LATEST + STEP
    assert isinstance(card, ScoreCardReply) and card.card.latest.ts == LATEST + STEP
    monkeypatch.undo()
    assert card.card == storage.scores.score_card(EXCHANGE, "BTCUSDT", tolerance=timedelta(minutes=10))
    assert card.card.hour_ago is not None and card.card.day_ago is not None


async def test_a_cycle_stored_by_another_process_shows_once_the_market_is_due_checked_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No refresh here (another process collects). Trusted for ``recheck``; then a command
    answers at once and starts a check in a worker thread, whose market the next command
    shows; a market checked ``WAIT_AFTER`` rechecks ago is checked before the answer."""
    storage = populate(FakeStorage())
    clock = Clock()
    layer = trusting_layer(storage, clock)
    first = await ask(layer, "/top")
    assert isinstance(first, TableReply) and first.as_of == LATEST
    next_cycle(storage)  # the collector's commit; this layer is not told
    reads = count_reads(storage, monkeypatch)
    clock.now = 1.9
    trusted = await ask(layer, "/top")
    assert isinstance(trusted, TableReply) and trusted.as_of == LATEST
    assert reads == []

    clock.now = 2.0
    answered = await ask(layer, "/top")  # at once, from the market held
    assert isinstance(answered, TableReply) and answered.as_of == LATEST
    queries = layer.queries
    await wait_for(lambda: (m := queries.held()) is not None and m.as_of == LATEST + STEP, "the check")
    assert [name for name, _ in reads] == ["score_mark", "latest_scores", "past_scores"]
    seen = await ask(layer, "/top")
    assert isinstance(seen, TableReply) and seen.as_of == LATEST + STEP
    assert len(reads) == 3  # the check is done: no other

    next_cycle(storage, cycles=2)
    clock.now += WAIT_AFTER * RECHECK.total_seconds()  # checked too long ago to answer first
    waited = await ask(layer, "/top")
    assert isinstance(waited, TableReply) and waited.as_of == LATEST + 2 * STEP
    assert threading.get_ident() not in {thread for _, thread in reads}


async def test_a_market_never_shown_is_prepared_by_the_first_command_off_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = populate(FakeStorage())
    layer = trusting_layer(storage, Clock())
    layer.queries.refresh(EXCHANGE)  # a process that answered no command reads nothing
    reads = count_reads(storage, monkeypatch)
    assert isinstance(await ask(layer, "/score", "eth"), ScoreCardReply)
    assert [name for name, _ in reads] == ["score_mark", "latest_scores", "past_scores"]
    assert threading.get_ident() not in {thread for _, thread in reads}


async def test_a_slow_check_never_replaces_the_market_a_later_check_prepared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two checks of one market in two threads: the first reads the store before a cycle is
    stored and finishes last. The market kept is the later check's, and the slow read held
    no lock the other had to wait for."""
    storage = populate(FakeStorage())
    queries = trusting_layer(storage, Clock()).queries
    assert queries.market() is not None  # shown: refresh keeps it prepared
    next_cycle(storage)
    read, release = threading.Event(), threading.Event()
    real = storage.scores.latest_scores
    first = [True]

    def slow_once(*a: Any, **kw: Any) -> Any:
        found = real(*a, **kw)  # what the store held when this check read it
        if first[0]:
            first[0] = False
            read.set()
            assert release.wait(WAIT_S), "the slow check was never released"
        return found

    monkeypatch.setattr(storage.scores, "latest_scores", slow_once)
    slow = threading.Thread(target=queries.refresh, args=(EXCHANGE,))
    slow.start()
    try:
        assert read.wait(WAIT_S), "the slow check never read the store"
        next_cycle(storage, cycles=2)
        later = threading.Thread(target=queries.refresh, args=(EXCHANGE,))
        later.start()
        later.join(WAIT_S)
        assert not later.is_alive(), "the later check waited for the slow one"
        held = queries.held()
        assert held is not None and held.as_of == LATEST + 2 * STEP
    finally:
        release.set()
        slow.join(WAIT_S)
    assert not slow.is_alive()
    held = queries.held()
    assert held is not None and held.as_of == LATEST + 2 * STEP  # not the slow check's older read


async def test_commands_arriving_together_start_one_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check takes a while on a busy machine; the commands arriving meanwhile answer from
    the market held and start no check of their own."""
    storage = populate(FakeStorage())
    clock = Clock()
    layer = trusting_layer(storage, clock)
    await ask(layer, "/top")
    next_cycle(storage)
    reads = count_reads(storage, monkeypatch)
    clock.now = 2.0
    replies = await asyncio.gather(*(ask(layer, "/top") for _ in range(5)))
    assert all(isinstance(r, TableReply) and r.as_of == LATEST for r in replies)
    queries = layer.queries
    await wait_for(lambda: (m := queries.held()) is not None and m.as_of == LATEST + STEP, "the check")
    assert [name for name, _ in reads] == ["score_mark", "latest_scores", "past_scores"]


# Minutes before LATEST, clustered where the cards look: the newest, 1h and 24h before it.
_OFFSETS = st.one_of(st.integers(0, 25), st.integers(45, 80), st.integers(1420, 1460))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(_OFFSETS, min_size=1, max_size=12), min_size=1, max_size=4))
def test_a_prepared_card_is_the_stores_own_card(histories: list[set[int]]) -> None:
    """Whatever the gaps in each symbol's history, the card made from the prepared market
    (its newest score and its past read with the market) is the store's ``score_card``."""
    storage = FakeStorage()
    symbols = [f"S{i}USDT" for i in range(len(histories))]
    store_scores(
        storage,
        [
            record(symbol, LATEST - timedelta(minutes=m))
            for symbol, offsets in zip(symbols, histories, strict=True)
            for m in offsets
        ],
    )
    queries = make_layer(storage).queries
    market = queries.market()
    assert market is not None
    now = LATEST + timedelta(minutes=1)
    for symbol in market.by_symbol:
        found = queries.find(symbol)
        assert not isinstance(found, ErrorReply) and found.past is not None  # the prepared path
        card = queries.card(found, now)
        assert card is not None
        assert card.card == storage.scores.score_card(EXCHANGE, symbol, tolerance=timedelta(minutes=10))
