"""Three venues and their aggregate ``all`` in the fake stores, for the cross-venue commands.

Binance, Bybit and OKX list BTC and ETH under their own names; the aggregate's symbols are
the assets. PEPE is stored at the latest time only, with chosen inputs: crowded short on
Binance (``1000PEPEUSDT``), neutral on Bybit and OKX, so one venue alone is stretched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.app.commands import CommandLayer
from bot.core.aggregate import AGGREGATE_EXCHANGE, Aggregate, VenueShare
from bot.core.models import ScoreInputs
from bot.core.records import ScoreRecord
from bot.core.scoring import score
from tests.fakes.contract import store_scores
from tests.fakes.scored_market import INPUTS, LATEST, make_layer, populate, snapshot
from tests.fakes.storage import FakeStorage

VENUES = ("binanceusdm", "bybit", "okx")
VENUE_SYMBOLS = {
    "binanceusdm": ("BTCUSDT", "ETHUSDT", "GALAUSDT", "TAKEUSDT"),  # TAKE: not aggregated
    "bybit": ("BTCUSDT", "ETHUSDT", "SPKUSDT"),
    "okx": ("BTC-USDT-SWAP", "ETH-USDT-SWAP"),
    AGGREGATE_EXCHANGE: ("BTC", "ETH", "GALA", "SPK"),
}
PEPE = {
    "binanceusdm": ("1000PEPEUSDT", INPUTS["SPKUSDT"]),
    "bybit": ("1000PEPEUSDT", INPUTS["GALAUSDT"]),
    "okx": ("PEPE-USDT-SWAP", INPUTS["GALAUSDT"]),
    AGGREGATE_EXCHANGE: ("PEPE", INPUTS["BTCUSDT"]),
}
PEPE_SHARES = {"binanceusdm": 0.38, "bybit": 0.42, "okx": 0.20}


def pepe_record(exchange: str) -> ScoreRecord:
    symbol, inputs = PEPE[exchange]
    return ScoreRecord(exchange, symbol, LATEST, inputs, score(inputs))


def three_venues(storage: FakeStorage) -> FakeStorage:
    """Every venue's and the aggregate's scores (a day of history), PEPE's latest scores."""
    for exchange, symbols in VENUE_SYMBOLS.items():
        populate(storage, symbols=symbols, exchange=exchange)
    store_scores(storage, [pepe_record(e) for e in PEPE])
    storage.snapshots.add_snapshots([snapshot(PEPE[e][0], LATEST, e) for e in PEPE])
    return storage


def pepe_aggregate() -> Aggregate:
    """PEPE's last aggregate as the collecting process keeps it: members, shares, spreads."""
    parts = tuple(
        VenueShare(
            venue, PEPE[venue][0], PEPE_SHARES[venue], _funding_8h(PEPE[venue][1]), PEPE[venue][1].basis_pct
        )
        for venue in VENUES
    )
    return Aggregate(snapshot("PEPE", LATEST, AGGREGATE_EXCHANGE), parts, 0.5, 1.3, complete=True)


def _funding_8h(inputs: ScoreInputs) -> float | None:
    if inputs.funding_pct is None or inputs.funding_interval_h is None:
        return None
    return inputs.funding_pct * 8 / inputs.funding_interval_h


def venue_layer(
    storage: FakeStorage, aggregates: Mapping[str, Aggregate] | None = None, **more: Any
) -> CommandLayer:
    """A command layer collecting the three venues; ``aggregates`` as the aggregate's source
    keeps them (``None``: a process that does not compute the aggregate)."""
    return make_layer(
        storage,
        venues=VENUES,
        aggregates=None if aggregates is None else (lambda: aggregates),
        **more,
    )
