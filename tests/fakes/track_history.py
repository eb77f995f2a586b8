"""A stored history with hand-computable track-record figures (``/track`` and evidence tests)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.core.models import Band, Bias, Regime
from tests.fakes.contract import record, result, snapshot, store_scores
from tests.fakes.storage import FakeStorage

EX = "binanceusdm"
END = datetime(2026, 11, 20, tzinfo=UTC)
"""The history is the six days before this."""
START = END - timedelta(days=6)
HOUR = timedelta(hours=1)
HOURS = 24 * 6


def stored_history(storage: FakeStorage, symbol: str, stressed_long: int, exchange: str = EX) -> None:
    """Hourly over six days before ``END``: a stressed LONG reading every third hour for
    the first ``stressed_long`` of them (its price 6 % higher 24 h on), neutral otherwise (2 %)."""
    kinds = [k % 3 == 0 and k // 3 < stressed_long for k in range(HOURS)]
    prices = [100.0] * 24
    for k in range(HOURS):
        prices.append(prices[k] * (1.06 if kinds[k] else 1.02))
    prices = prices[:HOURS]  # a snapshot at every reading, as a cycle stores them
    at = [START + k * HOUR for k in range(len(prices))]
    storage.snapshots.add_snapshots(
        [
            replace(snapshot(symbol, ts, exchange=exchange), mark_price=p)
            for ts, p in zip(at, prices, strict=True)
        ]
    )
    store_scores(
        storage,
        [
            record(
                symbol, at[k], result(70, Bias.LONG, Regime.LONG_CROWDED, Band.STRESSED), exchange=exchange
            )
            if stressed
            else record(
                symbol, at[k], result(5, Bias.NEUTRAL, Regime.BALANCED, Band.NEUTRAL), exchange=exchange
            )
            for k, stressed in enumerate(kinds)
        ],
    )
