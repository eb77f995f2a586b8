"""Market data records, normalised once at the edge (collector or replay).

Units are the exchange's own: prices in the quote currency (USDT), funding as a plain
fraction per settlement interval (``0.0001`` = 0.01 %), open interest in contracts of
base units (contract size already applied) and in USD. Times are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from bot.core.frozen import quick_init


@quick_init
@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """One symbol's derivatives state at one time.

    Attributes:
        exchange: ccxt exchange id (``binanceusdm``, ``bybit``, ``okx``) or ``replay``.
        symbol: exchange-native id, e.g. ``BTCUSDT``.
        ts: the data time (aware UTC).
        oi_contracts: open interest in base units.
        oi_usd: open interest value in USD.
        mark_price / index_price / last_price: prices in USDT.
        funding_rate: current funding per interval, as a fraction.
        funding_interval_h: settlement interval in hours.
        next_funding_time: next settlement (aware UTC).
        volume_24h_usd: 24h quote volume in USDT.
    """

    exchange: str
    symbol: str
    ts: datetime
    oi_contracts: float | None
    oi_usd: float | None
    mark_price: float | None
    index_price: float | None
    last_price: float | None
    funding_rate: float | None
    funding_interval_h: float | None
    next_funding_time: datetime | None
    volume_24h_usd: float | None


MARKET_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MarketSnapshot))
"""The columns of a market file (the bundled demo market, ``dps backtest``), in order."""

MARKET_NUMBER_COLUMNS: tuple[str, ...] = tuple(
    name for name in MARKET_COLUMNS if name not in ("exchange", "symbol", "ts", "next_funding_time")
)
"""The numeric columns of a market file, in ``MarketSnapshot``'s order."""
