"""Per-exchange differences, as data.

``CcxtSource`` reads everything exchange-specific from the ``ExchangeProfile`` of the
selected ``EXCHANGE``: which ccxt class, which markets count, which bulk endpoints give
which fields, how the funding interval is found, what unit OI comes in, which
OI-history call to backfill from, how long a rate-limit ban lasts, and the default
concurrency. No code elsewhere branches on the exchange id. Method names and the endpoints
behind them are those of ccxt 4.5.90 (``ccxt/binance.py``, ``bybit.py``, ``okx.py`` in the
ccxt package); limits are the exchanges' own documentation (Binance USD-M "General Info"
and endpoint pages at developers.binance.com, bybit-exchange.github.io/docs/v5/rate-limit,
www.okx.com/docs-v5).

Bulk calls are ccxt methods that answer for every symbol at once; their ``role`` says
which normaliser reads the result (``bot.collector.normalize``):

- ``funding``: a dict of ccxt funding-rate structures keyed by unified symbol;
- ``intervals``: the same structure, only ``interval`` filled (Binance fundingInfo);
- ``mark`` / ``ticker``: a dict of ccxt ticker structures;
- ``oi``: a dict of ccxt open-interest structures;
- ``index_rows``: a raw exchange response whose ``data`` rows carry an index price per
  underlying (OKX has no unified method for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

EndpointRole = Literal["funding", "intervals", "mark", "ticker", "oi", "index_rows"]


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class BulkCall:
    """One all-symbols request made every cycle.

    Attributes:
        role: what the answer contains (see the module docstring).
        method: the ccxt method name (unified snake_case, or an implicit endpoint).
        params: extra request parameters.
        ttl_s: reuse the last good answer for this long (0 = fetch every cycle).
        required: without it the cycle cannot produce anything, so its failure fails the
            cycle; an optional call's failure only leaves its fields missing.
    """

    role: EndpointRole
    method: str
    params: Mapping[str, Any] = field(default_factory=_frozen)
    ttl_s: float = 0.0
    required: bool = False


@dataclass(frozen=True, slots=True)
class InfoFields:
    """Raw fields to read from a bulk row's ``info`` (ccxt leaves them unparsed).

    Bybit's v5 tickers row carries OI, 24h turnover and the last price beside the
    funding fields, so one request gives the whole snapshot.
    """

    last_price: str | None = None
    volume_24h_usd: str | None = None
    oi_amount: str | None = None
    oi_usd: str | None = None


@dataclass(frozen=True, slots=True)
class SymbolOi:
    """The per-symbol OI request, where OI has no all-symbols form (Binance).

    Called as ccxt's implicit endpoint method, not the unified ``fetch_open_interest``:
    the same client, throttle, URL override and error mapping (all in ``fetch2``), minus
    the unified method's market lookup and open-interest structure, CPU that a cycle of
    500 such requests spends on the client's thread while other venues need it too. The
    raw answer is read by ``normalize.from_symbol_open_interest``.

    Attributes:
        method: the ccxt implicit method, called with ``{id_param: market id}``.
        id_param: the request parameter naming the symbol; the answer echoes it.
        amount: the answer's OI field (base units, or contracts where
            ``ExchangeProfile.oi_in_contracts``).
        time: the answer's data time (epoch milliseconds).
    """

    method: str
    id_param: str = "symbol"
    amount: str = "openInterest"
    time: str = "time"


@dataclass(frozen=True, slots=True)
class WeightBudget:
    """How an exchange reports request weight: where the budget is read, which header counts.

    Attributes:
        info_method: the ccxt implicit method returning ``rateLimits`` (Binance exchangeInfo).
        header_prefix: the used-weight header name without its interval suffix; Binance
            appends ``intervalNum`` + interval letter, e.g. ``X-MBX-USED-WEIGHT-1M``.
        default_limit: the budget assumed until exchangeInfo has been read.
        default_window_s: that budget's window.
    """

    info_method: str
    header_prefix: str
    default_limit: int
    default_window_s: float


@dataclass(frozen=True, slots=True)
class Weight:
    """What one request to an endpoint costs against a ``RateWindow``.

    Attributes:
        each: the weight of a request that names one symbol (or of any request, when
            ``bulk`` is ``None``).
        bulk: the weight of the all-symbols form (no symbol parameter), where the venue
            charges it more (Binance ``ticker/24hr``: 1 with a symbol, 40 without).
    """

    each: int
    bulk: int | None = None


@dataclass(frozen=True, slots=True)
class RateWindow:
    """One published request limit: at most ``limit`` weight in any ``window_s`` seconds per IP.

    Our limiter (``bot.collector.venue_limiter``) spends only a share of it (the rest is
    headroom for other clients on the same IP and for clock differences).

    Attributes:
        name: for logs.
        limit / window_s: the venue's published budget.
        weights: ccxt request path (as ccxt's ``fetch2`` names it, e.g. ``openInterest``,
            ``public/funding-rate``) → its documented weight.
        other: the weight of a path not listed; ``None`` = such paths are not under this
            window.
        symbol_param: the request parameter that names one symbol (see ``Weight.bulk``).
    """

    name: str
    limit: int
    window_s: float
    weights: Mapping[str, Weight] = field(default_factory=_frozen)
    other: int | None = None
    symbol_param: str = "symbol"

    def weight_of(self, path: str, params: Mapping[str, Any]) -> int | None:
        """The weight of a request to ``path`` with ``params``; ``None`` when not under this window."""
        weight = self.weights.get(path)
        if weight is None:
            return self.other
        if weight.bulk is not None and self.symbol_param not in params:
            return weight.bulk
        return weight.each


@dataclass(frozen=True, slots=True)
class OiHistory:
    """The OI-history endpoint used for backfill.

    Attributes:
        method: the ccxt method (called with symbol, timeframe, since, limit, ``until``).
        timeframe: ccxt timeframe of the points (``5m`` everywhere we backfill).
        page_limit: points per request (the endpoint's maximum).
        max_requests / window_s: a separate limit for this endpoint, enforced by our own
            limiter (Binance documents ``/futures/data/openInterestHist`` at weight 0 with
            its own IP limit of 1000 requests per 5 minutes); ``None`` = only the shared
            throttle.
        lookback_s: how far back the endpoint serves data (Binance: 30 days).
        margin_s: added to ``window_s`` by our limiter: the exchange counts arrivals, we
            count starts, and two requests' trips can differ.
    """

    method: str = "fetch_open_interest_history"
    timeframe: str = "5m"
    page_limit: int = 500
    max_requests: int | None = None
    window_s: float = 300.0
    lookback_s: float | None = None
    margin_s: float = 1.0


@dataclass(frozen=True, slots=True)
class ExchangeProfile:
    """Everything exchange-specific that ``CcxtSource`` needs.

    Attributes:
        exchange_id: the ``EXCHANGE`` setting and ``MarketSnapshot.exchange``.
        ccxt_class: class name in ``ccxt.async_support``.
        ccxt_options: merged into the instance's ``options`` (market types to load).
        settle: only perpetual swaps settled in this currency are collected.
        bulk: the all-symbols calls of a cycle, in priority order (an earlier role's
            value wins when two calls give the same field).
        per_symbol_oi: the OI request per symbol where no bulk OI exists (Binance), else ``None``.
        history_oi_may_count_both_sides: the OI-history endpoint may count both sides where
            the cycle's OI counts one (Bybit): each backfill is calibrated against the
            current OI first (``bot/collector/oi_footing.py``).
        info_fields: raw fields read from the ``funding`` rows' ``info``.
        default_interval_h: funding interval of a symbol the interval source leaves out
            (Binance fundingInfo lists only adjusted symbols; the rest settle every 8h).
        oi_in_contracts: OI amounts are contracts, to be multiplied by ``contractSize``
            (OKX); otherwise they are base units already.
        ticker_volume_in_contracts: the ticker's ``baseVolume`` counts contracts and has
            no ``quoteVolume`` (OKX swaps): quote volume = baseVolume × size × last.
        index_join: market ``info`` key matching the ``index_rows`` ``instId`` (OKX ``uly``).
        volume_role: the bulk role whose rows carry 24h volume, for top-N ranking.
        oi_history: the backfill endpoint.
        weight: request-weight reporting, where the exchange has it.
        rate_windows: the venue's published request limits; a request under at least one
            of them is paced by our limiter (a share of each budget) instead of ccxt's
            one-request-per-``rateLimit`` spacing; requests under none keep ccxt's throttle.
        concurrency: per-symbol calls in flight at once (enough to hide the round trip;
            the budget is the limiter's business).
        rate_limit_ms: ccxt ``rateLimit`` override (requests no window covers); ``None``
            keeps ccxt's own.
        ban_pauses: HTTP status of an IP-ban answer → seconds to stay away when the answer
            names no ``Retry-After`` (the ban's documented minimum).
    """

    exchange_id: str
    ccxt_class: str
    ccxt_options: Mapping[str, Any]
    bulk: tuple[BulkCall, ...]
    volume_role: EndpointRole
    oi_history: OiHistory
    settle: str = "USDT"
    per_symbol_oi: SymbolOi | None = None
    history_oi_may_count_both_sides: bool = False
    info_fields: InfoFields | None = None
    default_interval_h: float | None = None
    oi_in_contracts: bool = False
    ticker_volume_in_contracts: bool = False
    index_join: str | None = None
    weight: WeightBudget | None = None
    rate_windows: tuple[RateWindow, ...] = ()
    concurrency: int = 8
    rate_limit_ms: float | None = None
    ban_pauses: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))

    def ban_pause(self, http_status: int | None) -> float | None:
        """How long an answer with this status bans us, when it is an IP ban."""
        return self.ban_pauses.get(http_status) if http_status is not None else None


BINANCE_USDM = ExchangeProfile(
    exchange_id="binanceusdm",
    ccxt_class="binanceusdm",
    # One exchangeInfo request loads the USD-M markets.
    ccxt_options=_frozen({"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap"}),
    bulk=(
        # premiumIndex without a symbol: funding, next funding time, mark and index of all.
        BulkCall("funding", "fetch_funding_rates", required=True),
        # fundingInfo lists only symbols with an adjusted interval; it changes rarely and
        # shares a 500/5 min limit with fundingRate, so refresh it hourly.
        BulkCall("intervals", "fetch_funding_intervals", ttl_s=3600.0),
        # ticker/24hr without a symbol (weight 40): last price and 24h quote volume.
        BulkCall("ticker", "fetch_tickers"),
    ),
    # /fapi/v1/openInterest has no all-symbols form; it answers
    # {"symbol": "BTCUSDT", "openInterest": "10659.509", "time": 1589437530011}.
    per_symbol_oi=SymbolOi("fapiPublicGetOpenInterest"),
    default_interval_h=8.0,
    volume_role="ticker",
    oi_history=OiHistory(
        timeframe="5m", page_limit=500, max_requests=1000, window_s=300.0, lookback_s=30 * 86400.0
    ),
    weight=WeightBudget(
        info_method="fapiPublicGetExchangeInfo",
        header_prefix="X-MBX-USED-WEIGHT-",
        default_limit=2400,
        default_window_s=60.0,
    ),
    rate_windows=(
        # developers.binance.com, USD-M Futures "General Info" → Limits: REQUEST_WEIGHT 2400
        # per minute per IP (also served in exchangeInfo rateLimits); weights from each
        # endpoint's page: premiumIndex 1 with a symbol, 10 without; ticker/24hr 1 with a
        # symbol, 40 without; openInterest 1; exchangeInfo 1; fundingInfo 0 (it has its
        # own limit below). Paths we do not list are charged 1.
        RateWindow(
            "request weight",
            2400,
            60.0,
            _frozen(
                {
                    "premiumIndex": Weight(1, bulk=10),
                    "ticker/24hr": Weight(1, bulk=40),
                    "openInterest": Weight(1),
                    "exchangeInfo": Weight(1),
                    "fundingInfo": Weight(0),
                    "openInterestHist": Weight(0),  # /futures/data: its own limit (oi_history)
                }
            ),
            other=1,
        ),
        # "Get Funding Rate Info": "share 500/5min/IP rate limit with GET /fapi/v1/fundingRate".
        RateWindow("fundingInfo", 500, 300.0, _frozen({"fundingInfo": Weight(1), "fundingRate": Weight(1)})),
    ),
    # 500 openInterest calls (weight 1 each) fit in the budget at once; what bounds the
    # cycle is the round trip, so enough in flight to hide it.
    concurrency=64,
    # 418: the IP is banned after ignoring 429s, "from 2 minutes to 3 days" (Retry-After
    # normally says how long).
    ban_pauses=MappingProxyType({418: 120.0}),
)

BYBIT = ExchangeProfile(
    exchange_id="bybit",
    ccxt_class="bybit",
    ccxt_options=_frozen({"fetchMarkets": {"types": ["linear"]}, "defaultType": "swap"}),
    bulk=(
        # v5 tickers?category=linear: funding, next funding, mark, index, OI, turnover,
        # last price of every linear contract; the interval comes from the loaded market.
        BulkCall("funding", "fetch_funding_rates", required=True),
    ),
    info_fields=InfoFields(
        last_price="lastPrice",
        volume_24h_usd="turnover24h",
        oi_amount="openInterest",  # base units for linear contracts
        oi_usd="openInterestValue",
    ),
    # Bybit's docs describe /v5/market/open-interest's openInterest (the backfill's
    # "then") as "the sum of both sides" (newer pages add a singleOpenInterest, "the
    # single side"), the tickers' openInterest (the cycle's "now") only as "Open interest
    # size". Mixed as they come, the first day's deltas could jump by ~100 %: the
    # backfill puts each symbol's history on the tickers' footing instead.
    history_oi_may_count_both_sides=True,
    volume_role="funding",
    oi_history=OiHistory(timeframe="5m", page_limit=200),
    rate_windows=(
        # bybit-exchange.github.io/docs/v5/rate-limit, "HTTP IP limit": 600 requests within
        # a 5-second window per IP, every request counting 1 (public market data has no
        # per-UID limit).
        RateWindow("HTTP IP limit", 600, 5.0, other=1),
    ),
    concurrency=8,
    # Public market data has no per-UID limit, only the IP one (600 requests per 5 s):
    # over it Bybit answers a bare 403 "access too frequent" and bans the IP for at least
    # 10 minutes; calling during the ban does not lift it.
    ban_pauses=MappingProxyType({403: 600.0}),
)

OKX = ExchangeProfile(
    exchange_id="okx",
    ccxt_class="okx",
    ccxt_options=_frozen({"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"}),
    bulk=(
        # funding-rate?instId=ANY: funding, next settlement, interval (from the two times).
        BulkCall("funding", "fetch_funding_rates", required=True),
        BulkCall("mark", "fetch_mark_prices"),  # mark-price?instType=SWAP
        # index-tickers?quoteCcy=USDT: one row per underlying (BTC-USDT), no unified method.
        BulkCall("index_rows", "public_get_market_index_tickers", params=_frozen({"quoteCcy": "USDT"})),
        BulkCall("oi", "fetch_open_interests"),  # open-interest?instType=SWAP, in contracts
        BulkCall("ticker", "fetch_tickers"),  # market/tickers?instType=SWAP: last, 24h volume
    ),
    oi_in_contracts=True,
    ticker_volume_in_contracts=True,
    index_join="uly",
    volume_role="ticker",
    # rubik open-interest-history: at most 100 points per request.
    oi_history=OiHistory(timeframe="5m", page_limit=100),
    # www.okx.com/docs-v5, each endpoint's "Rate Limit" line: a limit per endpoint, no
    # IP-wide one for public data. Rules "IP + Instrument ID" (funding-rate with instId=ANY,
    # mark-price, open-interest) count per instrument; we count per endpoint, which is
    # stricter. Paths not listed keep ccxt's throttle.
    rate_windows=(
        RateWindow("public/instruments", 20, 2.0, _frozen({"public/instruments": Weight(1)})),
        RateWindow("public/funding-rate", 10, 2.0, _frozen({"public/funding-rate": Weight(1)})),
        RateWindow("public/mark-price", 10, 2.0, _frozen({"public/mark-price": Weight(1)})),
        RateWindow("market/index-tickers", 20, 2.0, _frozen({"market/index-tickers": Weight(1)})),
        RateWindow("public/open-interest", 20, 2.0, _frozen({"public/open-interest": Weight(1)})),
        RateWindow("market/tickers", 20, 2.0, _frozen({"market/tickers": Weight(1)})),
        RateWindow(
            "rubik open-interest-history",
            10,
            2.0,
            _frozen({"rubik/stat/contracts/open-interest-history": Weight(1)}),
        ),
    ),
    concurrency=8,
)

PROFILES: Mapping[str, ExchangeProfile] = MappingProxyType(
    {profile.exchange_id: profile for profile in (BINANCE_USDM, BYBIT, OKX)}
)
"""Supported exchanges by ``EXCHANGE`` id."""


def profile_for(exchange_id: str) -> ExchangeProfile:
    """The profile of ``exchange_id``.

    Raises:
        KeyError: the exchange is not supported (the settings validate this first).
    """
    try:
        return PROFILES[exchange_id]
    except KeyError:
        raise KeyError(f"unsupported exchange {exchange_id!r}; choose one of {', '.join(PROFILES)}") from None
