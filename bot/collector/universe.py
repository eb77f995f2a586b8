"""Which symbols to collect: every trading USDT perpetual, the top N by volume, or a list.

Pure helpers over ccxt's unified market dicts; ``CcxtSource.load_universe`` fetches the
markets (and volumes for top N) and calls these.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

CcxtMarket = Mapping[str, Any]


def is_collectable(market: CcxtMarket, settle: str) -> bool:
    """A listed perpetual swap, linear, settled in ``settle`` (``USDT``)."""
    return (
        market.get("swap") is True
        and market.get("linear") is True
        and market.get("settle") == settle
        and isinstance(market.get("id"), str)
    )


def is_trading(market: CcxtMarket) -> bool:
    """ccxt's ``active``: False for settling/suspended/delisting markets (None = unknown, kept)."""
    return market.get("active") is not False


def aliases(market: CcxtMarket) -> set[str]:
    """Names a user may type for a market: ``BTCUSDT``, ``BTC-USDT-SWAP``, ``BTC/USDT:USDT``."""
    names = {str(market.get("id", "")).upper(), str(market.get("symbol", "")).upper()}
    base, quote = market.get("base"), market.get("quote")
    if isinstance(base, str) and isinstance(quote, str):
        names.add(f"{base}{quote}".upper())
    names.discard("")
    return names


def select(
    markets: Iterable[CcxtMarket],
    *,
    settle: str,
    symbols: Sequence[str] = (),
    top_n: int | None = None,
    volumes: Mapping[str, float | None] | None = None,
) -> list[str]:
    """Exchange ids to collect, from the exchange's markets.

    Args:
        markets: ccxt unified markets.
        settle: the settle currency of the perps we want.
        symbols: an explicit list (ids or aliases, any case); wins over ``top_n``.
        top_n: keep the N with the highest 24h quote volume.
        volumes: 24h quote volume by exchange id (for ``top_n``; missing ranks last).

    Returns:
        Ids: in the given order for an explicit list, by volume for top N, else sorted.
    """
    candidates = [m for m in markets if is_collectable(m, settle) and is_trading(m)]
    if symbols:
        by_alias: dict[str, str] = {}
        for market in candidates:
            for name in aliases(market):
                by_alias.setdefault(name, market["id"])
        chosen: list[str] = []
        for wanted in symbols:
            found = by_alias.get(wanted.strip().upper())
            if found is None:
                logger.warning("SYMBOLS: %s is not a trading %s perpetual here; skipped", wanted, settle)
            elif found not in chosen:
                chosen.append(found)
        return chosen
    ids = sorted(m["id"] for m in candidates)
    if top_n is None:
        return ids
    volumes = volumes or {}

    def rank(market_id: str) -> tuple[float, str]:
        volume = volumes.get(market_id)
        return (-(volume if volume is not None else -1.0), market_id)

    return sorted(ids, key=rank)[:top_n]


def log_changes(exchange: str, before: Sequence[str] | None, after: Sequence[str]) -> None:
    """One log line naming listings that joined and delistings that left the universe."""
    if before is None:
        logger.info("%s universe: %d symbols", exchange, len(after))
        return
    joined = sorted(set(after) - set(before))
    left = sorted(set(before) - set(after))
    if joined or left:
        logger.info(
            "%s universe: %d symbols; joined %s; left %s",
            exchange,
            len(after),
            ", ".join(joined[:20]) or "none",
            ", ".join(left[:20]) or "none",
        )
