"""OKX v5 swap payloads (``/api/v5/*``), as quoted in ccxt 4.5.90's ``okx.py``.

OKX counts open interest in contracts of ``ctVal`` base units (``oi``), and also sends it
in base units (``oiCcy``) and USD (``oiUsd``); ``vol24h`` is contracts, ``volCcy24h`` base.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.exchange.limits import RequestLimit
from tests.fakes.exchange.market import FIVE_MINUTES_MS, FakeInstrument, FakeListing
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


def other_id(other: FakeListing) -> str:
    """OKX's name of a contract that is not a USDT perpetual: ``BTC-USD-SWAP`` (inverse),
    ``BTC-USDC-SWAP``, ``BTC-USDT-261225`` (``FUTURES``), a pre-open swap's usual name."""
    if other.kind == "inverse_swap":
        return f"{other.base}-USD-SWAP"
    if other.kind == "usdc_swap":
        return f"{other.base}-USDC-SWAP"
    if other.kind == "dated_future":
        return f"{other.base}-USDT-{other.expiry:%y%m%d}"
    return f"{other.base}-USDT-SWAP"


def _other_instrument(other: FakeListing) -> dict[str, Any]:
    row = _instrument(FakeInstrument(other.base, other.mark))
    quote = {"inverse_swap": "USD", "usdc_swap": "USDC"}.get(other.kind, "USDT")
    inverse = other.kind == "inverse_swap"
    row.update(
        instId=other_id(other),
        instFamily=f"{other.base}-{quote}",
        uly=f"{other.base}-{quote}",
        settleCcy=other.base if inverse else quote,
        ctType="inverse" if inverse else "linear",
        ctVal="100" if inverse else "0.01",
        ctValCcy="USD" if inverse else other.base,
        state="preopen" if other.kind == "prelaunch" else "live",
    )
    if other.kind == "dated_future":
        row.update(instType="FUTURES", expTime=str(other.expiry_ms), alias="quarter")
    return row


# OKX also lists pre-open placeholders that carry nothing but these three fields.
PREOPEN_PLACEHOLDER = {"instId": "ETH-USD_UM-SWAP", "instType": "SWAP", "state": "preopen"}


def _other_swaps(fake: FakeExchange) -> list[FakeListing]:
    return fake.market.other("inverse_swap", "usdc_swap", "prelaunch")


def instruments(fake: FakeExchange, params: Params) -> Reply:
    if params.get("instType") == "FUTURES":
        return _ok([_other_instrument(o) for o in fake.market.other("dated_future")])
    if params.get("instType") != "SWAP":
        return _ok([])
    others = [_other_instrument(o) for o in _other_swaps(fake)]
    return _ok([_instrument(i) for i in fake.market.listed()] + others + [PREOPEN_PLACEHOLDER])


def _rows(fake: FakeExchange, key: str) -> list[FakeInstrument]:
    omitted = fake.omitted(key)
    return [i for i in fake.market.listed() if i.okx_id not in omitted]


def _swap_rows(fake: FakeExchange, key: str) -> list[tuple[str, FakeInstrument]]:
    """Every live swap of an ``instType=SWAP`` answer by its id: inverse and USDC ones too."""
    others = fake.market.other("inverse_swap", "usdc_swap")
    return [(i.okx_id, i) for i in _rows(fake, key)] + [(other_id(o), _as_instrument(o)) for o in others]


def _as_instrument(other: FakeListing) -> FakeInstrument:
    return FakeInstrument(
        other.base, other.mark, basis=0.0, funding_rate=other.funding_rate, volume_usd=other.volume_usd
    )


def funding_rate(fake: FakeExchange, params: Params) -> Reply:
    """Settlement every ``interval_h`` (OKX lists 8, 6, 4, 2 and 1 h): ``fundingTime`` is the
    upcoming settlement, ``nextFundingTime`` the one after, the interval their gap."""
    inst_id = params.get("instId")
    pool = _rows(fake, "funding-rate") if inst_id == "ANY" else [fake.market.by_okx_id(inst_id or "")]
    if None in pool:
        return _no_instrument()
    ids = [i.okx_id for i in pool if i is not None]
    if inst_id == "ANY":  # every live swap, inverse and USDC ones too
        others = fake.market.other("inverse_swap", "usdc_swap")
        pool += [_as_instrument(o) for o in others]
        ids += [other_id(o) for o in others]
    out = []
    for inst, okx_id in zip(pool, ids, strict=True):
        assert inst is not None
        now = fake.market.data_ms(inst)
        nxt = inst.next_funding_ms(now)
        out.append(
            {
                "formulaType": "noRate",
                "fundingRate": f"{inst.funding_rate:.16f}",
                "fundingTime": str(nxt),  # the upcoming settlement
                "impactValue": "20000",
                "instId": okx_id,
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
                "instId": inst_id,
                "instType": "SWAP",
                "markPx": f"{i.mark:.8g}",
                "ts": str(fake.market.data_ms(i)),
            }
            for inst_id, i in _swap_rows(fake, "mark-price")
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
                "instId": inst_id,
                "instType": "SWAP",
                "oi": f"{i.oi_contracts:.4f}",
                "oiCcy": f"{i.oi_base:.4f}",
                "oiUsd": f"{i.oi_base * i.mark:.4f}",
                "ts": str(fake.market.data_ms(i)),
            }
            for inst_id, i in _swap_rows(fake, "okx-open-interest")
        ]
    )


def tickers(fake: FakeExchange, params: Params) -> Reply:
    out = []
    for inst_id, i in _swap_rows(fake, "okx-tickers"):
        base_volume = i.volume_usd / i.mark
        out.append(
            {
                "instType": "SWAP",
                "instId": inst_id,
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
