"""One venue's perpetual read from ccxt's unified market metadata, for the instrument map.

The collector applies ``contractSize`` to open interest, so a listing's OI is in the
venue's base units (``1000SHIB`` on Binance, ``SHIB`` on OKX, whose ``ctVal`` is applied).
What is checked here is that the metadata says so unambiguously: a linear perpetual swap
settled in the quote currency, a positive finite contract size and, where the venue sends
them (OKX), a contract value counted in the base asset with no further multiplier. Anything
else stays venue-only, with the reason, and never joins an aggregate.

Pure and standard-library only: ``market`` is ccxt's plain dict.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bot.core.instruments import Listing, VenueOnly


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def listing_from_market(venue: str, market: Mapping[str, Any], settle: str) -> Listing | VenueOnly:
    """The listing of ``market`` (a ccxt market of ``venue``), or why it stays venue-only."""
    symbol, base = market.get("id"), market.get("base")
    listing = Listing(venue, str(symbol or ""), str(base or ""))
    if not isinstance(symbol, str) or not symbol or not isinstance(base, str) or not base:
        return VenueOnly(listing, "no market id or base asset in the metadata")
    if market.get("swap") is not True or market.get("linear") is not True or market.get("inverse") is True:
        return VenueOnly(listing, "not a linear perpetual swap")
    if market.get("settle") != settle:
        return VenueOnly(listing, f"settled in {market.get('settle')!r}, not {settle}")
    size = _number(market.get("contractSize"))
    if size is None or size <= 0:
        return VenueOnly(listing, f"contract size {market.get('contractSize')!r} is not a positive number")
    info = market.get("info")
    if isinstance(info, Mapping):
        # OKX: ctVal (the contract size) counted in ctValCcy, times ctMult. OI in base units
        # needs ctValCcy to be the base and no multiplier on top of ctVal.
        value_ccy = info.get("ctValCcy")
        if value_ccy not in (None, "") and str(value_ccy).upper() != base.upper():
            return VenueOnly(listing, f"contract value counted in {value_ccy!r}, not in {base}")
        mult = info.get("ctMult")
        if mult not in (None, "") and _number(mult) != 1.0:
            return VenueOnly(listing, f"contract multiplier {mult!r} on top of the contract value")
    return listing
