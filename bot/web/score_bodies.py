"""``/api/v1/score/{symbol}`` bodies of a whole market, prepared ahead of the requests.

Answering a card per request meant a mark read and, once per symbol and market, a read of
its past scores, then building and serialising the card: about ten milliseconds of the
interpreter per request, which a cycle in the bot's process stretched to fifty. The
preparing thread (``bot.web.prepared``) now reads every symbol's past scores in one batch
per cycle time and serialises every card; a request only resolves the name it was given
and splices in what the clock adds: the age and whether it makes the score STALE.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.queries import LatestMarket
from bot.app.views import ScoreCardReply
from bot.core.records import ScoreCard, ScoreRecord
from bot.ports import ScoreStore
from bot.web import payloads

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
_CLOCK_KEYS = ("age_seconds", "stale")
"""The fields of a card that change with the clock, adjacent in ``payloads.score_json``."""


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class ScoreBody:
    """One symbol's serialised card, cut where the clock's fields go."""

    ts: datetime
    head: bytes
    tail: bytes

    @staticmethod
    def of(card: ScoreCard, exchange: str, source_label: str | None) -> ScoreBody:
        """The body ``payloads.score_json`` gives, minus its clock's fields."""
        fields = payloads.score_json(ScoreCardReply(card, timedelta(0), False, source_label), exchange)
        keys = list(fields)
        cut = keys.index(_CLOCK_KEYS[0])
        if keys[cut : cut + len(_CLOCK_KEYS)] != list(_CLOCK_KEYS) or cut == 0 or cut + 2 == len(keys):
            raise ValueError("the score card's clock fields moved: ScoreBody must cut elsewhere")
        before = _dumps({k: fields[k] for k in keys[:cut]})
        after = _dumps({k: fields[k] for k in keys[cut + 2 :]})
        return ScoreBody(card.latest.ts, before[:-1] + b',"age_seconds":', b"," + after[1:])

    def at(self, now: datetime, stale_after: timedelta) -> bytes:
        """The body as ``payloads.score_json`` serialised it at ``now`` (same bytes)."""
        # As ``Queries`` ages a card: a time a little ahead of the clock is fresh, not negative.
        age = max(now - self.ts, timedelta(0))
        stale = b',"stale":true' if age > stale_after else b',"stale":false'
        return self.head + _dumps(round(age.total_seconds(), 3)) + stale + self.tail


@dataclass(frozen=True, slots=True)
class ScoreBodies:
    """Every symbol of one market, by symbol; ``market`` resolves the names a request uses."""

    market: LatestMarket
    bodies: Mapping[str, ScoreBody]


FIRST_LOOK = timedelta(seconds=15)
"""The newest part of a past score's window, read first (``_newest_near``)."""


def _newest_near(
    scores: ScoreStore, exchange: str, at: datetime, tolerance: timedelta, symbols: list[str]
) -> dict[str, ScoreRecord]:
    """``score_at_many(exchange, at, tolerance, symbols)``, its window's newest part read first.

    The store reads every score of the window to pick each symbol's newest: with cycles a few
    seconds apart (a bench, a short interval) that was hundreds of rows a symbol. A symbol
    with a score in the newest part has its newest there; only the others are read over the
    whole window (with five-minute cycles, most: the first read then finds next to nothing).
    """
    if tolerance <= FIRST_LOOK:
        return scores.score_at_many(exchange, at, tolerance, symbols)
    found = scores.score_at_many(exchange, at, FIRST_LOOK, symbols)
    rest = [symbol for symbol in symbols if symbol not in found]
    if rest:
        found.update(scores.score_at_many(exchange, at, tolerance, rest))
    return found


def score_bodies(
    scores: ScoreStore,
    market: LatestMarket,
    exchange: str,
    tolerance: timedelta,
    source_label: str | None,
    shown: str,
) -> ScoreBodies:
    """The cards ``Queries.card`` would answer for each symbol of ``market`` (``exchange``'s),
    with ``shown`` as the body's exchange.

    Their past scores (1h and 24h before each latest) come from ``score_at_many`` per distinct
    latest time and offset (a cycle gives its symbols a handful of times), not per symbol.
    """
    by_ts: dict[datetime, list[str]] = {}
    for record in market.records:
        by_ts.setdefault(record.ts, []).append(record.symbol)
    past: dict[tuple[str, timedelta], ScoreRecord] = {}
    for ts, symbols in by_ts.items():
        for offset in (HOUR, DAY):
            found = _newest_near(scores, exchange, ts - offset, tolerance, symbols)
            past.update(((symbol, offset), record) for symbol, record in found.items())
    bodies = {
        r.symbol: ScoreBody.of(
            ScoreCard(latest=r, hour_ago=past.get((r.symbol, HOUR)), day_ago=past.get((r.symbol, DAY))),
            shown,
            source_label,
        )
        for r in market.records
    }
    return ScoreBodies(market, bodies)
