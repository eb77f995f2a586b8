"""Binance USD-M futures payloads (``/fapi/v1/*``, ``/futures/data/*``).

Shapes follow Binance's documentation and the rows quoted in ccxt 4.5.90's ``binance.py``
(``parse_market``, ``parse_funding_rate``, ``parse_ticker``, ``parse_open_interest``).
Numbers are strings where Binance sends strings; times are integers in ms.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tests.fakes.exchange.limits import RequestLimit
from tests.fakes.exchange.market import FIVE_MINUTES_MS, FakeInstrument, FakeListing
from tests.fakes.exchange.server import Params, Reply, Route

if TYPE_CHECKING:
    from tests.fakes.exchange.server import FakeExchange

INVALID_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}


def _num(value: float) -> str:
    # Plain decimal notation like Binance, without losing the digits of tiny prices.
    return format(Decimal(repr(round(value, 12))), "f")


def _symbol_info(inst: FakeInstrument) -> dict[str, Any]:
    status = "TRADING" if inst.status == "trading" else "SETTLING"
    return _contract(inst.binance_id, inst.binance_id, inst.base, "USDT", status, listed_ms=inst.listed_ms)


def other_id(other: FakeListing) -> str | None:
    """The USD-M symbol of a contract that is not a USDT perpetual (None: not on USD-M).

    Inverse swaps are COIN-M's (``/dapi``), another API; a quarterly future is
    ``BTCUSDT_261225``; a USDC perpetual ``BTCUSDC``; a pre-launch perpetual has its usual
    name and ``status`` ``PENDING_TRADING``.
    """
    if other.kind == "dated_future":
        return f"{other.base}USDT_{other.expiry:%y%m%d}"
    if other.kind == "usdc_swap":
        return f"{other.base}USDC"
    if other.kind == "prelaunch":
        return f"{other.base}USDT"
    return None


def _other_info(other: FakeListing) -> dict[str, Any] | None:
    symbol = other_id(other)
    if symbol is None:
        return None
    if other.kind == "dated_future":
        return _contract(
            symbol, f"{other.base}USDT", other.base, "USDT", "TRADING", "CURRENT_QUARTER", other.expiry_ms
        )
    if other.kind == "usdc_swap":
        return _contract(symbol, symbol, other.base, "USDC", "TRADING")
    return _contract(symbol, symbol, other.base, "USDT", "PENDING_TRADING")


def _contract(
    symbol: str,
    pair: str,
    base: str,
    quote: str,
    status: str,
    contract_type: str = "PERPETUAL",
    delivery_ms: int = 4133404800000,
    listed_ms: int = 1_569_398_400_000,
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": pair,
        "contractType": contract_type,
        "deliveryDate": delivery_ms,
        "onboardDate": listed_ms,
        "status": status,
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": "5"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }


def exchange_info(fake: FakeExchange, params: Params) -> Reply:
    window = fake.weight_window_s
    interval, num = ("MINUTE", window / 60) if window % 60 == 0 else ("SECOND", window)
    return Reply(
        {
            "timezone": "UTC",
            "serverTime": fake.market.now_ms(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": interval,
                    "intervalNum": int(num),
                    "limit": fake.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [_symbol_info(i) for i in fake.market.listed()]
            + [row for row in map(_other_info, fake.market.others) if row is not None],
        }
    )


def _premium_row(fake: FakeExchange, inst: FakeInstrument) -> dict[str, Any]:
    data_ms = fake.market.data_ms(inst)
    return {
        "symbol": inst.binance_id,
        "markPrice": _num(inst.mark),
        "indexPrice": _num(inst.index),
        "estimatedSettlePrice": _num(inst.mark),
        "lastFundingRate": _num(inst.funding_rate),
        "interestRate": "0.00010000",
        "nextFundingTime": inst.next_funding_ms(data_ms),
        "time": data_ms,
    }


def _one_or_all(
    fake: FakeExchange,
    params: Params,
    key: str,
    row: Any,
    other_row: Any,
    *,
    trading_only: bool = False,
) -> Reply:
    symbol = params.get("symbol")
    if symbol is not None:
        inst = fake.market.by_binance_id(symbol)
        if inst is None:
            return Reply(INVALID_SYMBOL, 400)
        return Reply(row(fake, inst))
    omitted = fake.omitted(key)
    pool = fake.market.trading() if trading_only else fake.market.listed()
    others = [other_row(fake, o, sym) for o in fake.market.others if (sym := other_id(o)) is not None]
    return Reply([row(fake, i) for i in pool if i.binance_id not in omitted] + others)


def _other_premium_row(fake: FakeExchange, other: FakeListing, symbol: str) -> dict[str, Any]:
    # A future pays no funding: its rate and next funding time are empty.
    perpetual = other.kind != "dated_future"
    now = fake.market.now_ms()
    return {
        "symbol": symbol,
        "markPrice": _num(other.mark),
        "indexPrice": _num(other.mark),
        "estimatedSettlePrice": _num(other.mark),
        "lastFundingRate": _num(other.funding_rate) if perpetual else "",
        "interestRate": "0.00010000" if perpetual else "",
        "nextFundingTime": (now // 28_800_000 + 1) * 28_800_000 if perpetual else 0,
        "time": now,
    }


def _other_ticker_row(fake: FakeExchange, other: FakeListing, symbol: str) -> dict[str, Any]:
    now = fake.market.now_ms()
    mark = _num(other.mark)
    return {
        "symbol": symbol,
        "priceChange": "0",
        "priceChangePercent": "0.000",
        "weightedAvgPrice": mark,
        "lastPrice": mark,
        "lastQty": "1",
        "openPrice": mark,
        "highPrice": mark,
        "lowPrice": mark,
        "volume": _num(other.volume_usd / other.mark),
        "quoteVolume": _num(other.volume_usd),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }


def premium_index(fake: FakeExchange, params: Params) -> Reply:
    return _one_or_all(fake, params, "premiumIndex", _premium_row, _other_premium_row)


def funding_info(fake: FakeExchange, params: Params) -> Reply:
    # Only symbols whose interval (or cap/floor) was adjusted are listed; 8h ones are absent.
    omitted = fake.omitted("fundingInfo")
    return Reply(
        [
            {
                "symbol": i.binance_id,
                "adjustedFundingRateCap": "0.02000000",
                "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": i.interval_h,
                "disclaimer": False,
            }
            for i in fake.market.listed()
            if i.interval_h != 8 and i.binance_id not in omitted
        ]
    )


def _ticker_row(fake: FakeExchange, inst: FakeInstrument) -> dict[str, Any]:
    now = fake.market.data_ms(inst)
    return {
        "symbol": inst.binance_id,
        "priceChange": _num(inst.mark * 0.01),
        "priceChangePercent": "1.010",
        "weightedAvgPrice": _num(inst.mark),
        "lastPrice": _num(inst.mark * 1.0001),
        "lastQty": "0.010",
        "openPrice": _num(inst.mark * 0.99),
        "highPrice": _num(inst.mark * 1.02),
        "lowPrice": _num(inst.mark * 0.98),
        "volume": _num(inst.volume_usd / inst.mark),
        "quoteVolume": _num(inst.volume_usd),
        "openTime": now - 86_400_000,
        "closeTime": now,
        "firstId": 1,
        "lastId": 1000,
        "count": 1000,
    }


def ticker_24hr(fake: FakeExchange, params: Params) -> Reply:
    return _one_or_all(fake, params, "ticker/24hr", _ticker_row, _other_ticker_row)


def open_interest(fake: FakeExchange, params: Params) -> Reply:
    inst = fake.market.by_binance_id(params.get("symbol", ""))
    if inst is None:
        return Reply(INVALID_SYMBOL, 400)
    return Reply(
        {"symbol": inst.binance_id, "openInterest": f"{inst.oi_base:.3f}", "time": fake.market.data_ms(inst)}
    )


def open_interest_hist(fake: FakeExchange, params: Params) -> Reply:
    inst = fake.market.by_binance_id(params.get("symbol", ""))
    if inst is None:
        return Reply(INVALID_SYMBOL, 400)
    if params.get("period") != "5m":
        return Reply({"code": -1130, "msg": "Data sent for parameter 'period' is not valid."}, 400)
    limit = min(int(params.get("limit", 30)), 500)
    now = fake.market.now_ms()
    end = min(int(params.get("endTime", now)), now)
    start = int(params.get("startTime", end - (limit - 1) * FIVE_MINUTES_MS))
    grid = range(-(-start // FIVE_MINUTES_MS) * FIVE_MINUTES_MS, end + 1, FIVE_MINUTES_MS)
    rows = [
        {
            "symbol": inst.binance_id,
            "sumOpenInterest": f"{inst.oi_at(ts):.8f}",
            "sumOpenInterestValue": f"{inst.oi_at(ts) * inst.mark:.8f}",
            "CMCCirculatingSupply": "19000000.0",
            "timestamp": ts,
        }
        for ts in grid
    ]
    return Reply(rows[-limit:])  # oldest first, the latest ``limit`` of the window


ROUTES = (
    Route("/fapi/v1/exchangeInfo", "exchangeInfo", exchange_info, weight=lambda p: 1),
    Route(
        "/fapi/v1/premiumIndex",
        "premiumIndex",
        premium_index,
        "symbol",
        weight=lambda p: 1 if "symbol" in p else 10,
    ),
    # Weight 0, but 500 requests per 5 minutes per IP, shared with /fapi/v1/fundingRate.
    Route("/fapi/v1/fundingInfo", "fundingInfo", funding_info, limit=RequestLimit(500, 300.0, "fundingRate")),
    Route(
        "/fapi/v1/ticker/24hr",
        "ticker/24hr",
        ticker_24hr,
        "symbol",
        weight=lambda p: 1 if "symbol" in p else 40,
    ),
    Route("/fapi/v1/openInterest", "openInterest", open_interest, "symbol", weight=lambda p: 1),
    # Weight 0, but its own IP limit: 1000 requests per 5 minutes.
    Route(
        "/futures/data/openInterestHist",
        "openInterestHist",
        open_interest_hist,
        "symbol",
        limit=RequestLimit(1000, 300.0, "futures/data"),
    ),
)
