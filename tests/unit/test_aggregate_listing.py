"""Listings read from ccxt's unified markets (shapes as ccxt's binance/bybit/okx parsers build
them), and the instrument map they make across venues."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.aggregate_listing import listing_from_market
from bot.core.instruments import Listing, VenueOnly, build


def market(id_: str, base: str, size: Any = 1.0, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": id_,
        "symbol": f"{base}/USDT:USDT",
        "base": base,
        "quote": "USDT",
        "settle": "USDT",
        "type": "swap",
        "swap": True,
        "future": False,
        "linear": True,
        "inverse": False,
        "contract": True,
        "contractSize": size,
        "info": {},
    }
    row.update(over)
    return row


# Binance USD-M: baseAsset 1000SHIB, contractSize 1 (OI counts 1000SHIB units).
BINANCE_SHIB = market("1000SHIBUSDT", "1000SHIB", info={"symbol": "1000SHIBUSDT", "baseAsset": "1000SHIB"})
# Bybit linear: baseCoin SHIB1000, contractSize parsed as 1 for linear.
BYBIT_SHIB = market("SHIB1000USDT", "SHIB1000", info={"symbol": "SHIB1000USDT", "baseCoin": "SHIB1000"})
# OKX: base SHIB from instFamily, contractSize = ctVal (the collector applies it to OI).
OKX_SHIB = market(
    "SHIB-USDT-SWAP",
    "SHIB",
    1000000.0,
    info={
        "instId": "SHIB-USDT-SWAP",
        "ctVal": "1000000",
        "ctValCcy": "SHIB",
        "ctMult": "1",
        "ctType": "linear",
    },
)


@pytest.mark.parametrize(
    ("venue", "row", "expected"),
    [
        ("binanceusdm", BINANCE_SHIB, Listing("binanceusdm", "1000SHIBUSDT", "1000SHIB")),
        ("bybit", BYBIT_SHIB, Listing("bybit", "SHIB1000USDT", "SHIB1000")),
        ("okx", OKX_SHIB, Listing("okx", "SHIB-USDT-SWAP", "SHIB")),
    ],
)
def test_linear_usdt_perpetuals_are_listed(venue: str, row: dict[str, Any], expected: Listing) -> None:
    assert listing_from_market(venue, row, "USDT") == expected


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        # OKX inverse swap: contract value counted in USD, settled in the coin.
        (
            market(
                "BTC-USD-SWAP",
                "BTC",
                100.0,
                settle="BTC",
                linear=False,
                inverse=True,
                info={"ctVal": "100", "ctValCcy": "USD", "ctMult": "1"},
            ),
            "not a linear perpetual swap",
        ),
        (market("BTCPERP", "BTC", settle="USDC"), "settled in 'USDC', not USDT"),
        (market("BTCUSDT-25DEC26", "BTC", swap=False, future=True), "not a linear perpetual swap"),
        # OKX pre-open placeholder: ccxt has no contract size for it.
        (market("NEW-USDT-SWAP", "NEW", None), "contract size None is not a positive number"),
        (market("X-USDT-SWAP", "X", 0.0), "contract size 0.0 is not a positive number"),
        (market("BAD", "BAD", float("nan")), "contract size nan is not a positive number"),
        (
            market("SHIB-USDT-SWAP", "SHIB", 1e6, info={"ctVal": "1", "ctValCcy": "USDT", "ctMult": "1"}),
            "contract value counted in 'USDT', not in SHIB",
        ),
        (
            market(
                "SHIB-USDT-SWAP", "SHIB", 1e6, info={"ctVal": "1000000", "ctValCcy": "SHIB", "ctMult": "10"}
            ),
            "contract multiplier '10' on top of the contract value",
        ),
        (market("", "BTC"), "no market id or base asset in the metadata"),
    ],
)
def test_what_cannot_be_read_safely_stays_venue_only(row: dict[str, Any], reason: str) -> None:
    read = listing_from_market("okx", row, "USDT")
    assert isinstance(read, VenueOnly)
    assert read.reason == reason


def test_shib_on_three_venues_is_one_asset_in_shib_units() -> None:
    listings = [
        listing_from_market(v, r, "USDT")
        for v, r in (("binanceusdm", BINANCE_SHIB), ("bybit", BYBIT_SHIB), ("okx", OKX_SHIB))
    ]
    assert all(isinstance(x, Listing) for x in listings)
    marks = {
        ("binanceusdm", "1000SHIBUSDT"): 0.0125,  # per 1,000 SHIB
        ("bybit", "SHIB1000USDT"): 0.01251,
        ("okx", "SHIB-USDT-SWAP"): 0.0000125,  # per SHIB
    }
    mapped = build([x for x in listings if isinstance(x, Listing)], marks)
    assert mapped.venue_only == ()
    shib = mapped.assets["SHIB"]
    assert [(m.listing.venue, m.units) for m in shib] == [("binanceusdm", 1e3), ("bybit", 1e3), ("okx", 1.0)]
