"""One cycle's answers → ``FetchReport``: join bulk rows per symbol, normalise, judge.

Pure: takes the bulk answers (keyed by unified symbol, or by index key), the per-symbol
OI results (a ``Part`` or the exception that call ended with) and the markets, and returns
snapshots, failures and warnings. Which parser reads which answer is decided by the bulk
call's ``role``, never by the exchange.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.collector import normalize
from bot.collector.profiles import BulkCall, ExchangeProfile
from bot.collector.universe import CcxtMarket
from bot.core import collection as reasons
from bot.core.collection import FetchReport, SymbolFailure
from bot.core.market import MarketSnapshot

Answer = Mapping[str, Any]


def keyed(call: BulkCall, raw: Any) -> Answer:
    """A bulk answer as a mapping from row key to row (ccxt already keys by unified symbol)."""
    if call.role == "index_rows":
        rows = raw.get("data") if isinstance(raw, Mapping) else None
        if not isinstance(rows, list):
            return {}
        return {r["instId"]: r for r in rows if isinstance(r, Mapping) and isinstance(r.get("instId"), str)}
    return raw if isinstance(raw, Mapping) else {}


def row_key(profile: ExchangeProfile, role: str, market: CcxtMarket) -> Any:
    """Where a market's row sits in an answer: its unified symbol, or its index join key."""
    if role == "index_rows" and profile.index_join:
        info = market.get("info")
        return info.get(profile.index_join) if isinstance(info, Mapping) else None
    return market.get("symbol")


def part_for(profile: ExchangeProfile, role: str, row: Any, market: CcxtMarket) -> normalize.Part:
    """Normalise one row of a bulk answer by the role of the call that fetched it."""
    size = market.get("contractSize")
    if role == "funding":
        return normalize.from_funding_rate(row, profile.info_fields)
    if role == "intervals":
        return normalize.from_funding_interval(row)
    if role == "mark":
        return normalize.from_mark(row)
    if role == "index_rows":
        return normalize.from_index_row(row)
    if role == "oi":
        return normalize.from_open_interest(row, contract_size=size, in_contracts=profile.oi_in_contracts)
    return normalize.from_ticker(
        row, contract_size=size, volume_in_contracts=profile.ticker_volume_in_contracts
    )


def build_report(
    profile: ExchangeProfile,
    symbols: Sequence[str],
    markets: Mapping[str, CcxtMarket],
    answers: Mapping[str, Answer | None],
    per_symbol: Mapping[str, normalize.Part | BaseException],
    *,
    now: datetime,
    max_age: timedelta,
    requests: int,
    weight_used: int | None,
    duration_s: float,
) -> FetchReport:
    """Snapshots for the symbols whose data arrived and is fresh; reasons for the rest.

    Args:
        profile: the exchange's profile (bulk calls in priority order).
        symbols: the universe of this cycle (exchange ids).
        markets: ccxt markets by exchange id.
        answers: each bulk role's keyed answer, ``None`` when that call failed.
        per_symbol: per-symbol OI results by exchange id (empty where OI is bulk).
        now: the cycle time (aware UTC) for the stale guard.
        max_age: older data is stale (two collection intervals).
        requests / weight_used / duration_s: the cycle's cost, passed through.
    """
    snapshots: list[MarketSnapshot] = []
    failures: list[SymbolFailure] = []
    warnings: list[SymbolFailure] = []
    default_interval = profile.default_interval_h
    if any(c.role == "intervals" for c in profile.bulk) and answers.get("intervals") is None:
        default_interval = None  # unknown which symbols are adjusted: do not guess 8h
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            failures.append(SymbolFailure(symbol, reasons.REASON_BAD_SYMBOL, "no longer listed"))
            continue
        parts: list[normalize.Part] = []
        missing = False
        for call in profile.bulk:
            answer = answers.get(call.role)
            row = answer.get(row_key(profile, call.role, market)) if answer is not None else None
            if row is None:
                missing = missing or call.required
                continue
            parts.append(part_for(profile, call.role, row, market))
        if missing:
            failures.append(
                SymbolFailure(symbol, reasons.REASON_MISSING, "absent from the exchange's answer")
            )
            continue
        oi = per_symbol.get(symbol)
        if isinstance(oi, BaseException):
            kind = getattr(oi, "kind", reasons.REASON_UNAVAILABLE)
            failures.append(SymbolFailure(symbol, str(kind), str(oi)[:200]))
            continue
        if oi is not None:
            parts.insert(1, oi)  # right after funding: its time is checked for staleness too
        assembled = normalize.assemble(
            profile.exchange_id, symbol, parts, now=now, max_age=max_age, default_interval_h=default_interval
        )
        warnings.extend(assembled.warnings)
        if assembled.snapshot is not None:
            snapshots.append(assembled.snapshot)
        elif assembled.failure is not None:
            failures.append(assembled.failure)
    return FetchReport(
        snapshots=tuple(snapshots),
        failures=tuple(failures),
        requests=requests,
        weight_used=weight_used,
        duration_s=duration_s,
        warnings=tuple(warnings),
    )
