"""``/api/v1/score/{symbol}`` bodies of a whole market, prepared ahead of the requests.

Answering a card per request meant a mark read and, once per symbol and market, a read of
its past scores, then building and serialising the card: about ten milliseconds of the
interpreter per request, which a cycle in the bot's process stretched to fifty. The
preparing thread (``bot.web.prepared``) now serialises every card of the market that
``Queries`` prepared (its past scores read in one statement, ``Queries.cards``); a request
only resolves the name it was given and splices in what the clock adds: the age and whether
it makes the score STALE.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.app.queries import LatestMarket
from bot.app.views import ScoreCardReply
from bot.core.records import ScoreCard
from bot.web import payloads

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


def score_bodies(
    cards: Mapping[str, ScoreCard], market: LatestMarket, shown: str, source_label: str | None
) -> ScoreBodies:
    """The bodies of ``cards`` (``Queries.cards``: every symbol of ``market``, from its
    prepared past scores, no read), with ``shown`` as the body's exchange."""
    bodies = {symbol: ScoreBody.of(card, shown, source_label) for symbol, card in cards.items()}
    return ScoreBodies(market, bodies)
