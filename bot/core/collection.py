"""What one collection cycle hands back: snapshots, per-symbol failures, and its cost.

Pure and standard-library only. A market source (live ccxt or replay) returns a
``FetchReport`` per cycle; a symbol that could not be collected is a ``SymbolFailure``
with a stable ``reason`` code (counted in logs and ``/status``) and a human ``detail``.
Every ``datetime`` here is timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.market import MarketSnapshot

# Stable failure reason codes. Sources may add exchange-specific detail, never new codes
# without listing them here.
REASON_STALE = "stale"
"""The exchange's data time is older than two collection intervals."""
REASON_MISSING = "missing"
"""The symbol is in the universe but absent from the exchange's answer."""
REASON_JUNK = "junk"
"""The exchange answered with values that cannot be used (non-finite, negative OI, ...)."""
REASON_BAD_SYMBOL = "bad_symbol"
"""The exchange does not know the symbol (delisted between universe reloads)."""
REASON_RATE_LIMITED = "rate_limited"
"""429/418 or an exchange rate-limit code, still failing after the pause."""
REASON_TIMEOUT = "timeout"
"""The request outlived the client timeout on every attempt."""
REASON_UNAVAILABLE = "unavailable"
"""Network error or 5xx on every attempt."""
REASON_EXCHANGE_ERROR = "exchange_error"
"""The exchange refused the request with an error we do not retry."""
REASON_CIRCUIT_OPEN = "circuit_open"
"""Skipped: repeated exchange failures opened the circuit breaker."""
REASON_PAUSED = "paused"
"""Skipped: the exchange asked us to stay away (Retry-After) for longer than a cycle can wait."""
REASON_NO_DATA = "no_data"
"""A replay source has no step at or before the requested time."""


@dataclass(frozen=True, slots=True)
class SymbolFailure:
    """One symbol that produced no snapshot this cycle (or a warning about one that did).

    Attributes:
        symbol: exchange-native id, e.g. ``BTCUSDT``.
        reason: a stable code (``REASON_*`` above), for counting.
        detail: a short human explanation (no secrets, no payload dumps).
    """

    symbol: str
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class OiPoint:
    """One open-interest observation: from an exchange's OI-history endpoint, or a stored snapshot.

    Attributes:
        ts: the observation time (aware UTC); the OI-history endpoint's are on its
            5-minute grid.
        oi_contracts: open interest in base units (contract size applied).
        oi_usd: its USD value, when the source gives one.
    """

    ts: datetime
    oi_contracts: float
    oi_usd: float | None


@dataclass(frozen=True, slots=True)
class FetchReport:
    """The outcome of one collection cycle.

    Attributes:
        snapshots: one fresh snapshot per collected symbol.
        failures: symbols of the universe without a snapshot, each with its reason.
        requests: HTTP requests made (every attempt counts).
        weight_used: Binance's own count of used request weight (peak of the
            ``X-MBX-USED-WEIGHT-*`` header seen during the cycle, for its window), or
            ``None`` where the exchange reports no weight.
        duration_s: wall-clock seconds the cycle took.
        warnings: problems with returned snapshots (a junk field set to ``None``, an
            unknown funding interval); the snapshot itself is still usable.
    """

    snapshots: tuple[MarketSnapshot, ...]
    failures: tuple[SymbolFailure, ...]
    requests: int
    weight_used: int | None
    duration_s: float
    warnings: tuple[SymbolFailure, ...] = ()
