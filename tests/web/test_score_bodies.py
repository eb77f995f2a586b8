"""``/api/v1/score`` bodies prepared for a whole market: the same bytes as the card built per
request, whatever the clock adds, from the cards ``Queries`` prepared with the market."""

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
from bot.web.score_bodies import ScoreBody, score_bodies
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
    cards = queries.cards()
    assert cards is not None and cards[0] is latest
    prepared = score_bodies(cards[1], latest, exchange, label)
    assert set(prepared.bodies) == {r.symbol for r in latest.records}
    assert prepared.market is latest
    with_past = 0
    for record in latest.records:
        reply = queries.card(record.symbol, now)
        assert prepared.bodies[record.symbol].at(now, STALE_AFTER) == _expected(reply, exchange)
        with_past += reply is not None and reply.card.hour_ago is not None
    assert with_past > 0  # the prepared market holds past scores (not a market of empty changes)


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
