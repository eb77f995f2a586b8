"""``/api/v1/score`` bodies prepared for a whole market: the same bytes as the card built per
request, whatever the clock adds, from one batch read of the past scores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.queries import LatestMarket
from bot.app.views import ScoreCardReply
from bot.core.records import ScoreCard
from bot.web import payloads
from bot.web.score_bodies import ScoreBody, _newest_near, score_bodies
from tests.strategies import hostile_texts
from tests.web.conftest import Replayed, replayed

STALE_AFTER = timedelta(minutes=10)


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    """Three symbols with more than an hour of cycles stored: cards with a score 1h before."""
    symbols = ("SPKUSDT", "BTCUSDT", "ETHUSDT")
    run = replayed(tmp_path_factory.mktemp("cards") / "cards.sqlite3", cycles=14, symbols=symbols)
    yield run
    run.close()


def _market(market: Replayed) -> LatestMarket:
    found = market.app.commands.queries.market()
    assert found is not None
    return found


def _expected(reply: ScoreCardReply | None, exchange: str) -> bytes:
    assert reply is not None
    return json.dumps(payloads.score_json(reply, exchange), separators=(",", ":")).encode()


def test_every_symbol_s_prepared_card_is_the_card_queries_answers(market: Replayed) -> None:
    queries, now = market.app.commands.queries, market.clock.now()
    latest = _market(market)
    exchange = queries.exchange
    label = market.app.commands.context.source_label
    scores = market.app.collector.storage.scores
    prepared = score_bodies(scores, latest, exchange, STALE_AFTER, label, exchange)
    assert set(prepared.bodies) == {r.symbol for r in latest.records}
    assert prepared.market is latest
    with_past = 0
    for record in latest.records:
        reply = queries.card(record.symbol, now)
        assert prepared.bodies[record.symbol].at(now, STALE_AFTER) == _expected(reply, exchange)
        with_past += reply is not None and reply.card.hour_ago is not None
    assert with_past > 0  # the batch read found past scores (not a market of empty changes)


@settings(max_examples=200, deadline=None)
@given(
    pick=st.integers(min_value=0),
    shift=st.timedeltas(min_value=timedelta(hours=-2), max_value=timedelta(days=3)),
    stale_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=2)),
    shown=hostile_texts(4),
    label=st.none() | hostile_texts(4),
    hour_ago=st.booleans(),
)
def test_the_clock_s_fields_are_spliced_into_the_very_bytes_of_the_card(
    market: Replayed,
    pick: int,
    shift: timedelta,
    stale_after: timedelta,
    shown: str,
    label: str | None,
    hour_ago: bool,
) -> None:
    records = _market(market).records
    latest = records[pick % len(records)]
    past = records[(pick + 1) % len(records)] if hour_ago else None
    card = ScoreCard(latest=latest, hour_ago=past, day_ago=None)
    now: datetime = latest.ts + shift
    age = max(now - latest.ts, timedelta(0))
    reply = ScoreCardReply(card, age, age > stale_after, label)
    assert ScoreBody.of(card, shown, label).at(now, stale_after) == _expected(reply, shown)


def test_the_newest_part_of_a_window_read_first_finds_what_the_whole_window_finds(market: Replayed) -> None:
    scores = market.app.collector.storage.scores
    latest = _market(market)
    symbols = [r.symbol for r in latest.records]
    exchange = market.app.commands.queries.exchange
    found_some = False
    # Cycles are five minutes apart here: some times fall in a first look, most do not.
    for minutes in range(0, 80, 1):
        at = latest.as_of - timedelta(minutes=minutes, seconds=7)
        whole = scores.score_at_many(exchange, at, STALE_AFTER, symbols)
        assert _newest_near(scores, exchange, at, STALE_AFTER, symbols) == whole
        for seconds in (0, 5, 14, 15, 16):  # around the first look's edge
            near = latest.as_of - timedelta(minutes=minutes) + timedelta(seconds=seconds)
            assert _newest_near(scores, exchange, near, STALE_AFTER, symbols) == scores.score_at_many(
                exchange, near, STALE_AFTER, symbols
            )
        found_some = found_some or bool(whole)
    assert found_some
