"""One asset's breakdown across venues, from the aggregate's last cycle and the venues' scores.

Read where the aggregate is collected (the ``AggregateSource`` keeps each asset's last
``Aggregate``); each member venue's own score of its symbol comes from the score store.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.app.aggregate import AggregateSource
from bot.core.aggregate import AGGREGATE_EXCHANGE
from bot.core.aggregate_card import Breakdown, breakdown
from bot.core.models import ScoreResult
from bot.ports import ScoreStore


def asset_breakdown(
    source: AggregateSource, scores: ScoreStore, asset: str, now: datetime, tolerance: timedelta
) -> Breakdown | None:
    """The breakdown of ``asset`` at ``now`` (``None``: not aggregated, or no score within
    ``tolerance``); venue scores older than ``tolerance`` show as missing."""
    agg = source.latest.get(asset)
    if agg is None:
        return None
    own = scores.score_at_many(AGGREGATE_EXCHANGE, now, tolerance, [asset]).get(asset)
    if own is None:
        return None
    found: dict[tuple[str, str], ScoreResult] = {}
    for v in agg.venues:
        record = scores.score_at_many(v.venue, now, tolerance, [v.symbol]).get(v.symbol)
        if record is not None:
            found[(v.venue, v.symbol)] = record.result
    return breakdown(agg, own.result, found)
