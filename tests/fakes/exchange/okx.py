"""OKX v5 swap payloads (``/api/v5/*``), as quoted in ccxt 4.5.90's ``okx.py``.

OKX counts open interest in contracts of ``ctVal`` base units (``oi``), and also sends it
in base units (``oiCcy``) and USD (``oiUsd``); ``vol24h`` is contracts, ``volCcy24h`` base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.exchange.limits import RequestLimit
from tests.fakes.exchange.market import FIVE_MINUTES_MS, FakeInstrument
from tests.fakes.exchange.server import Params, Reply, Route

if TYPE_CHECKING:
    from tests.fakes.exchange.server import FakeExchange


def _ok(data: list[Any]) -> Reply:
    return Reply({"code": "0", "msg": "", "data": data})


def _no_instrument() -> Reply:
    return Reply({"code": "51001", "msg": "Instrument ID does not exist", "data": []})


def _instrument(inst: FakeInstrument) -> dict[str, Any]:
    return {
        "alias": "",
        "baseCcy": "",
        "category": "1",
        "ctMult": "1",
        "ctType": "linear",
        "ctVal": repr(inst.contract_size),
        "ctValCcy": inst.base,
        "expTime": "",
        "instFamily": inst.okx_underlying,
        "instId": inst.okx_id,
        "instType": "SWAP",
        "lever": "100",
        "listTime": str(inst.listed_ms),
        "lotSz": "1",
        "maxIcebergSz": "100000000.0000000000000000",
        "maxLmtSz": "100000000",
        "maxMktSz": "12000",
        "minSz": "1",
        "optType": "",
        "quoteCcy": "",
        "settleCcy": "USDT",
        "state": "live" if inst.status == "trading" else "suspend",
        "stk": "",
        "tickSz": "0.1",
        "uly": inst.okx_underlying,
    }


def instruments(fake: FakeExchange, params: Params) -> Reply:
    if params.get("instType") != "SWAP":
        return _ok([])
    return _ok([_instrument(i) for i in fake.market.listed()])


def _rows(fake: FakeExchange, key: str) -> list[FakeInstrument]:
    omitted = fake.omitted(key)
    return [i for i in fake.market.listed() if i.okx_id not in omitted]


def funding_rate(fake: FakeExchange, params: Params) -> Reply:
    inst_id = params.get("instId")
    pool = _rows(fake, "funding-rate") if inst_id == "ANY" else [fake.market.by_okx_id(inst_id or "")]
    if None in pool:
        return _no_instrument()
    out = []
    for inst in pool:
        assert inst is not None
        now = fake.market.data_ms(inst)
        nxt = inst.next_funding_ms(now)
        out.append(
            {
                "formulaType": "noRate",
                "fundingRate": f"{inst.funding_rate:.16f}",
                "fundingTime": str(nxt),  # the upcoming settlement
                "impactValue": "20000",
                "instId": inst.okx_id,
                "instType": "SWAP",
                "interestRate": "0.0001",
                "maxFundingRate": "0.00375",
                "method": "current_period",
                "minFundingRate": "-0.00375",
                "nextFundingRate": "",
                "nextFundingTime": str(nxt + inst.interval_h * 3_600_000),
                "premium": "0.0001",
                "settFundingRate": f"{inst.funding_rate:.16f}",
                "settState": "settled",
                "ts": str(now),
            }
        )
    return _ok(out)


def mark_price(fake: FakeExchange, params: Params) -> Reply:
    return _ok(
        [
            {
                "instId": i.okx_id,
                "instType": "SWAP",
                "markPx": f"{i.mark:.8g}",
                "ts": str(fake.market.data_ms(i)),
            }
            for i in _rows(fake, "mark-price")
        ]
    )


def index_tickers(fake: FakeExchange, params: Params) -> Reply:
    rows = []
    for i in _rows(fake, "index-tickers"):
        index = f"{i.index:.8g}"
        rows.append(
            {
                "instId": i.okx_underlying,
                "idxPx": index,
                "high24h": index,
                "sodUtc0": index,
                "open24h": index,
                "low24h": index,
                "sodUtc8": index,
                "ts": str(fake.market.data_ms(i)),
            }
        )
    return _ok(rows)


def open_interest(fake: FakeExchange, params: Params) -> Reply:
    return _ok(
        [
            {
                "instId": i.okx_id,
                "instType": "SWAP",
                "oi": f"{i.oi_contracts:.4f}",
                "oiCcy": f"{i.oi_base:.4f}",
                "oiUsd": f"{i.oi_base * i.mark:.4f}",
                "ts": str(fake.market.data_ms(i)),
            }
            for i in _rows(fake, "okx-open-interest")
        ]
    )


def tickers(fake: FakeExchange, params: Params) -> Reply:
    out = []
    for i in _rows(fake, "okx-tickers"):
        base_volume = i.volume_usd / i.mark
        out.append(
            {
                "instType": "SWAP",
                "instId": i.okx_id,
                "last": f"{i.mark * 1.0001:.8g}",
                "lastSz": "1",
                "askPx": f"{i.mark * 1.0001:.8g}",
                "askSz": "10",
                "bidPx": f"{i.mark * 0.9999:.8g}",
                "bidSz": "12",
                "open24h": f"{i.mark * 0.99:.8g}",
                "high24h": f"{i.mark * 1.02:.8g}",
                "low24h": f"{i.mark * 0.98:.8g}",
                "volCcy24h": f"{base_volume:.4f}",  # base units for derivatives
                "vol24h": f"{base_volume / i.contract_size:.4f}",  # contracts
                "ts": str(fake.market.data_ms(i)),
                "sodUtc0": f"{i.mark:.8g}",
                "sodUtc8": f"{i.mark:.8g}",
            }
        )
    return _ok(out)


def open_interest_history(fake: FakeExchange, params: Params) -> Reply:
    inst = fake.market.by_okx_id(params.get("instId", ""))
    if inst is None:
        return _no_instrument()
    if params.get("period") != "5m":
        return Reply({"code": "51000", "msg": "Parameter period error", "data": []})
    limit = min(int(params.get("limit", 100)), 100)
    now = fake.market.now_ms()
    # begin and end are exclusive on OKX; newest first.
    end = min(int(params.get("end", now + 1)) - 1, now)
    begin = int(params.get("begin", end - limit * FIVE_MINUTES_MS)) + 1
    grid = list(range(-(-begin // FIVE_MINUTES_MS) * FIVE_MINUTES_MS, end + 1, FIVE_MINUTES_MS))
    rows = [
        [
            str(ts),
            f"{inst.oi_at(ts) / inst.contract_size:.4f}",
            f"{inst.oi_at(ts):.4f}",
            f"{inst.oi_at(ts) * inst.mark:.2f}",
        ]
        for ts in reversed(grid)
    ]
    return _ok(rows[:limit])


def _per_2s(count: int, group: str, per: str | None = None) -> RequestLimit:
    return RequestLimit(count, 2.0, group, per)


# Limits and rules from OKX's v5 docs, endpoint by endpoint.
ROUTES = (
    Route(
        "/api/v5/public/instruments",
        "instruments",
        instruments,
        dialect="okx",
        limit=_per_2s(20, "instruments", "instType"),  # IP + Instrument Type
    ),
    Route(
        "/api/v5/public/funding-rate",
        "funding-rate",
        funding_rate,
        "instId",
        dialect="okx",
        limit=_per_2s(10, "funding-rate", "instId"),  # IP + Instrument ID ("ANY" is one)
    ),
    Route(
        "/api/v5/public/mark-price",
        "mark-price",
        mark_price,
        dialect="okx",
        limit=_per_2s(10, "mark-price", "instId"),  # IP + Instrument ID
    ),
    Route(
        "/api/v5/market/index-tickers",
        "index-tickers",
        index_tickers,
        dialect="okx",
        limit=_per_2s(20, "index-tickers"),  # IP
    ),
    Route(
        "/api/v5/public/open-interest",
        "okx-open-interest",
        open_interest,
        dialect="okx",
        limit=_per_2s(20, "open-interest", "instId"),  # IP + Instrument ID
    ),
    Route(
        "/api/v5/market/tickers",
        "okx-tickers",
        tickers,
        dialect="okx",
        limit=_per_2s(20, "tickers"),  # IP
    ),
    Route(
        "/api/v5/rubik/stat/contracts/open-interest-history",
        "open-interest-history",
        open_interest_history,
        "instId",
        dialect="okx",
        limit=_per_2s(10, "open-interest-history", "instId"),  # IP + Instrument ID
    ),
)
