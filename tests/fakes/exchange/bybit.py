"""Bybit v5 linear payloads (``/v5/market/*``), as quoted in ccxt 4.5.90's ``bybit.py``.

Open interest: Bybit documents ``/v5/market/open-interest``'s ``openInterest`` as "the sum
of both sides" (and ``singleOpenInterest`` as "the single side"); the tickers'
``openInterest`` is only "Open interest size". The fake serves, per instrument
(``history_sides``), the case that would hurt a client mixing them (the tickers count one
side, ``oi_base``, the history both), the case where they agree, and junk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.exchange.market import FIVE_MINUTES_MS, FakeInstrument, FakeListing
from tests.fakes.exchange.server import Params, Reply, Route

if TYPE_CHECKING:
    from tests.fakes.exchange.server import FakeExchange


def _envelope(fake: FakeExchange, result: Any, code: int = 0, msg: str = "OK") -> Reply:
    return Reply(
        {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": fake.market.now_ms()}
    )


def _invalid(fake: FakeExchange) -> Reply:
    return _envelope(fake, {}, 10001, "params error: symbol invalid")


def _instrument(inst: FakeInstrument) -> dict[str, Any]:
    return {
        "symbol": inst.binance_id,
        "contractType": "LinearPerpetual",
        "status": "Trading" if inst.status == "trading" else "Settling",
        "baseCoin": inst.base,
        "quoteCoin": "USDT",
        "launchTime": str(inst.listed_ms),
        "deliveryTime": "0",
        "deliveryFeeRate": "",
        "priceScale": "2",
        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": "0.10"},
        "lotSizeFilter": {
            "maxOrderQty": "1190.000",
            "minOrderQty": "0.001",
            "qtyStep": "0.001",
            "postOnlyMaxOrderQty": "1190.000",
            "maxMktOrderQty": "500.000",
            "minNotionalValue": "5",
        },
        "unifiedMarginTrade": True,
        "fundingInterval": inst.interval_h * 60,  # minutes
        "settleCoin": "USDT",
        "copyTrading": "both",
        "upperFundingRate": "0.00375",
        "lowerFundingRate": "-0.00375",
    }


def other_id(other: FakeListing) -> str:
    """Bybit's name of a contract that is not a USDT perpetual.

    ``BTCUSD`` (inverse perpetual, category ``inverse``), ``BTCPERP`` (USDC perpetual),
    ``BTCUSDT-25DEC26`` (USDT-margined dated future), and a pre-launch perpetual under its
    usual name, listed only when ``status=PreLaunch`` is asked for.
    """
    if other.kind == "inverse_swap":
        return f"{other.base}USD"
    if other.kind == "usdc_swap":
        return f"{other.base}PERP"
    if other.kind == "dated_future":
        return f"{other.base}USDT-{other.expiry:%d%b%y}".upper()
    return f"{other.base}USDT"


_OTHER_CONTRACTS = {
    # kind: (contractType, quote coin, settle coin; None = the base coin)
    "inverse_swap": ("InversePerpetual", "USD", None),
    "usdc_swap": ("LinearPerpetual", "USDC", "USDC"),
    "dated_future": ("LinearFutures", "USDT", "USDT"),
    "prelaunch": ("LinearPerpetual", "USDT", "USDT"),
}


def _other_instrument(other: FakeListing) -> dict[str, Any]:
    contract_type, quote, settle = _OTHER_CONTRACTS[other.kind]
    row = _instrument(FakeInstrument(other.base, other.mark))
    row.update(
        symbol=other_id(other),
        contractType=contract_type,
        status="PreLaunch" if other.kind == "prelaunch" else "Trading",
        quoteCoin=quote,
        settleCoin=settle or other.base,
        deliveryTime=str(other.expiry_ms) if other.kind == "dated_future" else "0",
        fundingInterval=0 if other.kind == "dated_future" else 480,
    )
    return row


def _others(fake: FakeExchange, category: str | None, *, prelaunch: bool) -> list[FakeListing]:
    kinds = {"inverse": ("inverse_swap",), "linear": ("usdc_swap", "dated_future")}.get(category or "", ())
    return [o for o in fake.market.others if o.kind in kinds or (prelaunch and o.kind == "prelaunch")]


def instruments_info(fake: FakeExchange, params: Params) -> Reply:
    category = params.get("category", "")
    # Without a status filter Bybit lists what trades (and settles); pre-launch contracts
    # only when asked for (ccxt asks, in a second request).
    prelaunch = params.get("status") == "PreLaunch"
    rows = [
        _other_instrument(o) for o in _others(fake, category, prelaunch=prelaunch and category == "linear")
    ]
    if category == "linear" and not prelaunch:
        rows = [_instrument(i) for i in fake.market.listed()] + rows
    if prelaunch:
        rows = [r for r in rows if r["status"] == "PreLaunch"]
    return _envelope(fake, {"category": category, "list": rows, "nextPageCursor": ""})


def _ticker(fake: FakeExchange, inst: FakeInstrument) -> dict[str, Any]:
    now = fake.market.data_ms(inst)
    return {
        "symbol": inst.binance_id,
        "lastPrice": f"{inst.mark * 1.0001:.10g}",
        "indexPrice": f"{inst.index:.10g}",
        "markPrice": f"{inst.mark:.10g}",
        "prevPrice24h": f"{inst.mark * 0.99:.10g}",
        "price24hPcnt": "0.010101",
        "highPrice24h": f"{inst.mark * 1.02:.10g}",
        "lowPrice24h": f"{inst.mark * 0.98:.10g}",
        "prevPrice1h": f"{inst.mark:.10g}",
        "openInterest": f"{inst.oi_base:.3f}",
        "openInterestValue": f"{inst.oi_base * inst.mark:.2f}",
        "turnover24h": f"{inst.volume_usd:.4f}",
        "volume24h": f"{inst.volume_usd / inst.mark:.3f}",
        "fundingRate": f"{inst.funding_rate:.10g}",
        "nextFundingTime": str(inst.next_funding_ms(now)),
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "ask1Size": "1.5",
        "bid1Price": f"{inst.mark * 0.9999:.10g}",
        "ask1Price": f"{inst.mark * 1.0001:.10g}",
        "bid1Size": "2.1",
        "basis": "",
    }


def _other_ticker(fake: FakeExchange, other: FakeListing) -> dict[str, Any]:
    row = _ticker(fake, FakeInstrument(other.base, other.mark, basis=0.0, volume_usd=other.volume_usd))
    perpetual = other.kind != "dated_future"
    row.update(
        symbol=other_id(other),
        fundingRate=f"{other.funding_rate:.10g}" if perpetual else "",
        nextFundingTime=row["nextFundingTime"] if perpetual else "",
        deliveryTime=str(other.expiry_ms) if not perpetual else "0",
    )
    return row


def tickers(fake: FakeExchange, params: Params) -> Reply:
    symbol = params.get("symbol")
    category = params.get("category", "linear")
    if symbol is not None:
        inst = fake.market.by_binance_id(symbol)
        if inst is None:
            return _invalid(fake)
        rows = [_ticker(fake, inst)]
    else:
        omitted = fake.omitted("tickers")
        # A linear answer holds every linear contract: USDC perpetuals, futures, pre-launch.
        others = [_other_ticker(fake, o) for o in _others(fake, category, prelaunch=category == "linear")]
        perps = [_ticker(fake, i) for i in fake.market.listed() if i.binance_id not in omitted]
        rows = (perps if category == "linear" else []) + others
    result = {"category": category, "list": rows}
    reply = _envelope(fake, result)
    # Bybit dates the whole answer once; a lagging instrument makes the envelope old.
    lag = max((i.lag_s for i in fake.market.listed()), default=0.0)
    reply.payload["time"] = fake.market.now_ms() - int(lag * 1000)
    return reply


def open_interest(fake: FakeExchange, params: Params) -> Reply:
    inst = fake.market.by_binance_id(params.get("symbol", ""))
    if inst is None:
        return _invalid(fake)
    limit = min(int(params.get("limit", 50)), 200)
    now = fake.market.now_ms()
    end = min(int(params.get("endTime", now)), now - int(inst.history_lag_s * 1000))
    # Without startTime: the newest ``limit`` points up to endTime.
    start = int(params.get("startTime", (end // FIVE_MINUTES_MS - (limit - 1)) * FIVE_MINUTES_MS))
    grid = list(range(-(-start // FIVE_MINUTES_MS) * FIVE_MINUTES_MS, end + 1, FIVE_MINUTES_MS))
    rows = [
        {
            "openInterest": f"{inst.history_sides * inst.oi_at(ts):.8f}",  # "the sum of both sides"
            "singleOpenInterest": f"{inst.oi_at(ts):.8f}",
            "timestamp": str(ts),
        }
        for ts in reversed(grid)
    ]
    # Newest first, walking back from endTime; paging by cursor is not needed for our windows.
    return _envelope(
        fake, {"symbol": inst.binance_id, "category": "linear", "list": rows[:limit], "nextPageCursor": ""}
    )


ROUTES = (
    Route("/v5/market/instruments-info", "instruments-info", instruments_info, dialect="bybit"),
    Route("/v5/market/tickers", "tickers", tickers, "symbol", dialect="bybit"),
    Route("/v5/market/open-interest", "open-interest", open_interest, "symbol", dialect="bybit"),
)
