"""ccxt's unified structures → ``MarketSnapshot``, pure and total.

Each ``from_*`` parser reads one endpoint's structure (as ccxt 4.5.90 returns it) into a
``Part``: the fields that endpoint knows for one symbol, in the snapshot's units. Junk
never raises: a non-finite, negative or zero value where that makes no sense becomes
``None`` with an issue string, and ``assemble`` merges a symbol's parts into one snapshot
or rejects the row with a reason (no data time, nothing usable, stale data).

Units out: prices in USDT; funding as a fraction per settlement interval; the interval in
hours; OI in base units (contracts × contract size) and USD; times aware UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.collector.profiles import InfoFields, SymbolOi
from bot.core import collection as reasons
from bot.core.collection import OiPoint, SymbolFailure
from bot.core.market import MarketSnapshot

_MIN_MS = 1_262_304_000_000  # 2010-01-01: anything earlier is not a data time
_MAX_MS = 4_102_444_800_000  # 2100-01-01
HOUR_MS = 3_600_000
MAX_ABS_FUNDING = 1.0
"""A funding rate beyond ±100 % per interval is junk, not a market."""
MAX_INTERVAL_H = 24.0
MIN_DERIVED_INTERVAL_H = 1.0
"""An interval derived from two settlement times is whole minutes from 1 h to ``MAX_INTERVAL_H``
(OKX lists 8, 6, 4, 2 and 1 h); anything else there is a junk pair of times."""


@dataclass(frozen=True, slots=True)
class Part:
    """What one endpoint says about one symbol; ``None`` = not said (or junk, see ``issues``).

    ``checks_freshness``: whether ``ts`` must pass the stale guard (24h tickers date their
    statistics window, not the state the score reads, so they do not).
    """

    ts: datetime | None = None
    checks_freshness: bool = True
    funding_rate: float | None = None
    funding_interval_h: float | None = None
    next_funding_time: datetime | None = None
    mark_price: float | None = None
    index_price: float | None = None
    last_price: float | None = None
    volume_24h_usd: float | None = None
    oi_contracts: float | None = None
    oi_usd: float | None = None
    issues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assembled:
    """A symbol's snapshot, or the reason it has none, plus warnings about its fields."""

    snapshot: MarketSnapshot | None
    failure: SymbolFailure | None = None
    warnings: tuple[SymbolFailure, ...] = ()


@dataclass
class _Reader:
    """Reads fields from an untrusted mapping, collecting issues instead of raising."""

    row: Mapping[str, object]
    issues: list[str] = field(default_factory=list)

    def number(
        self, key: str, name: str, *, positive: bool = False, non_negative: bool = False
    ) -> float | None:
        return self.check(self.row.get(key), name, positive=positive, non_negative=non_negative)

    def check(
        self, raw: object, name: str, *, positive: bool = False, non_negative: bool = False
    ) -> float | None:
        if raw is None or raw == "":
            return None
        value = to_float(raw)
        if value is None:
            self.issues.append(f"{name}: not a number")
        elif not math.isfinite(value):
            self.issues.append(f"{name}: not finite")
        elif positive and value <= 0:
            self.issues.append(f"{name}: zero or negative")
        elif non_negative and value < 0:
            self.issues.append(f"{name}: negative")
        else:
            return value
        return None

    def time(self, key: str, name: str) -> datetime | None:
        raw = self.row.get(key)
        if raw is None or raw == "":
            return None
        moment = ms_to_utc(raw)
        if moment is None:
            self.issues.append(f"{name}: not a time")
        return moment

    def funding(self, key: str) -> float | None:
        rate = self.number(key, "funding_rate")
        if rate is not None and abs(rate) > MAX_ABS_FUNDING:
            self.issues.append("funding_rate: absurd")
            return None
        return rate

    def interval(self, raw: object) -> float | None:
        if raw is None or raw == "":
            return None
        hours = interval_hours(raw)
        if hours is None:
            self.issues.append("funding_interval_h: not an interval")
        return hours

    def settlement_interval(self) -> float | None:
        """ccxt's ``interval`` label, else the gap between the two settlement times it gives.

        ccxt's OKX parser names only 1, 2, 4, 8, 16 and 24 h and passes any other gap
        through as a string of milliseconds (6 h: ``'21600000'``), which read as hours is
        no interval; the settlement times it came from say what it is.
        """
        raw = self.row.get("interval")
        if not is_interval_label(raw):
            derived = derived_interval_hours(
                self.row.get("fundingTimestamp"), self.row.get("nextFundingTimestamp")
            )
            if derived is not None:
                return derived
        return self.interval(raw)


def to_float(raw: object) -> float | None:
    """A number from ccxt (float/int) or a raw payload (decimal string); anything else → None."""
    if isinstance(raw, bool):
        return None
    try:
        if isinstance(raw, int | float):
            return float(raw)
        if isinstance(raw, str):
            return float(raw.strip())
    except (ValueError, OverflowError):  # "abc", or an integer beyond float range
        return None
    return None


def ms_to_utc(raw: object) -> datetime | None:
    """Epoch milliseconds (int, float or digit string) → aware UTC; implausible → None."""
    value = to_float(raw)
    if value is None or not math.isfinite(value) or not _MIN_MS <= value < _MAX_MS:
        return None
    return datetime.fromtimestamp(value / 1000.0, tz=UTC)


def interval_hours(raw: object) -> float | None:
    """ccxt's interval string (``'8h'``, ``'4h'``, ``'30m'``) or plain hours → hours; junk → None."""
    if isinstance(raw, str):
        text = raw.strip().lower()
        scale = 1.0
        if text.endswith("h"):
            text = text[:-1]
        elif text.endswith("m"):
            text, scale = text[:-1], 1 / 60
        hours = to_float(text)
        hours = None if hours is None else hours * scale
    else:
        hours = to_float(raw)
    if hours is None or not math.isfinite(hours) or not 0 < hours <= MAX_INTERVAL_H:
        return None
    return hours


def is_interval_label(raw: object) -> bool:
    """Whether ``raw`` is an interval with its unit (``'8h'``, ``'30m'``), as ccxt names known ones."""
    return isinstance(raw, str) and raw.strip().lower().endswith(("h", "m"))


def derived_interval_hours(settlement_ms: object, next_settlement_ms: object) -> float | None:
    """Hours between two consecutive settlements (epoch ms); ``None`` unless a plausible interval.

    Plausible: a whole number of minutes from ``MIN_DERIVED_INTERVAL_H`` to ``MAX_INTERVAL_H``.
    """
    if ms_to_utc(settlement_ms) is None or ms_to_utc(next_settlement_ms) is None:
        return None
    gap_ms = float(to_float(next_settlement_ms) or 0.0) - float(to_float(settlement_ms) or 0.0)
    if gap_ms % 60_000 or not MIN_DERIVED_INTERVAL_H * HOUR_MS <= gap_ms <= MAX_INTERVAL_H * HOUR_MS:
        return None
    return gap_ms / HOUR_MS


def _mapping(raw: object) -> Mapping[str, object] | None:
    return raw if isinstance(raw, Mapping) else None


def from_funding_rate(fr: object, info_fields: InfoFields | None = None) -> Part:
    """A ccxt funding-rate structure (``fetch_funding_rates`` value) → funding, mark, index.

    Binance ``GET /fapi/v1/premiumIndex`` (no symbol) row, and what ccxt makes of it::

        {"symbol": "BTCUSDT", "markPrice": "45802.81129892", "indexPrice": "45745.47701915",
         "estimatedSettlePrice": "45133.91753671", "lastFundingRate": "0.00063521",
         "interestRate": "0.00010000", "nextFundingTime": "1621267200000",
         "time": "1621252344001"}
        → {"symbol": "BTC/USDT:USDT", "markPrice": 45802.81129892,
           "indexPrice": 45745.47701915, "fundingRate": 0.00063521,
           "fundingTimestamp": 1621267200000, "timestamp": 1621252344001,
           "interval": None, "info": {...the row...}, ...}

    Bybit (``GET /v5/market/tickers?category=linear``) fills ``interval`` from the market's
    ``fundingInterval`` and keeps ``openInterest``, ``openInterestValue``, ``turnover24h``,
    ``lastPrice`` in ``info`` (read through ``info_fields``); OKX
    (``GET /api/v5/public/funding-rate?instId=ANY``) gives no prices or time, and
    ``fundingTimestamp`` is the upcoming settlement there too, ``nextFundingTimestamp`` the
    one after: where ccxt has no label for their gap (OKX's 6 h), the interval is that gap.
    """
    row = _mapping(fr)
    if row is None:
        return Part(issues=("funding: not an object",))
    r = _Reader(row)
    part = Part(
        ts=r.time("timestamp", "ts"),
        funding_rate=r.funding("fundingRate"),
        funding_interval_h=r.settlement_interval(),
        next_funding_time=r.time("fundingTimestamp", "next_funding_time"),
        mark_price=r.number("markPrice", "mark_price", positive=True),
        index_price=r.number("indexPrice", "index_price", positive=True),
    )
    info = _mapping(row.get("info"))
    if info_fields is not None and info is not None:
        i = _Reader(info, r.issues)
        part = replace(
            part,
            last_price=_field(i, info_fields.last_price, "last_price", positive=True),
            volume_24h_usd=_field(i, info_fields.volume_24h_usd, "volume_24h_usd", non_negative=True),
            oi_contracts=_field(i, info_fields.oi_amount, "oi_contracts", non_negative=True),
            oi_usd=_field(i, info_fields.oi_usd, "oi_usd", non_negative=True),
        )
    return _with_issues(part, r.issues)


def _field(r: _Reader, key: str | None, name: str, **rules: bool) -> float | None:
    return None if key is None else r.number(key, name, **rules)


def _with_issues(part: Part, issues: list[str]) -> Part:
    return replace(part, issues=tuple(issues)) if issues else part


def from_funding_interval(fr: object) -> Part:
    """A ccxt funding-interval structure (``fetch_funding_intervals`` value) → interval only.

    Binance ``GET /fapi/v1/fundingInfo`` row (only adjusted symbols are listed), and ccxt's::

        {"symbol": "BLZUSDT", "adjustedFundingRateCap": "0.03000000",
         "adjustedFundingRateFloor": "-0.03000000", "fundingIntervalHours": 4,
         "disclaimer": false}
        → {"symbol": "BLZ/USDT:USDT", "interval": "4h", "fundingRate": None, ...}
    """
    row = _mapping(fr)
    if row is None:
        return Part(issues=("funding interval: not an object",))
    r = _Reader(row)
    return _with_issues(Part(funding_interval_h=r.interval(row.get("interval"))), r.issues)


def from_ticker(ticker: object, *, contract_size: float | None, volume_in_contracts: bool) -> Part:
    """A ccxt ticker (``fetch_tickers`` value) → last price and 24h quote volume.

    Binance ``GET /fapi/v1/ticker/24hr`` (no symbol) row, and ccxt's::

        {"symbol": "SUSDT", "priceChange": "-0.0229000", "priceChangePercent": "-6.777",
         "weightedAvgPrice": "0.3210035", "lastPrice": "0.3150000", "lastQty": "16",
         "openPrice": "0.3379000", "highPrice": "0.3411000", "lowPrice": "0.3071000",
         "volume": "120588225", "quoteVolume": "38709237.2289000",
         "openTime": "1753701720000", "closeTime": "1753788172414", "firstId": "72234973",
         "lastId": "72423677", "count": "188700"}
        → {"symbol": "S/USDT:USDT", "last": 0.315, "baseVolume": 120588225.0,
           "quoteVolume": 38709237.2289, "timestamp": 1753788172414, ...}

    OKX ``GET /api/v5/market/tickers?instType=SWAP`` has no ``quoteVolume`` and its
    ``baseVolume`` (``vol24h``) counts contracts: ``volume_in_contracts`` converts it with
    the contract size and the last price.
    """
    row = _mapping(ticker)
    if row is None:
        return Part(issues=("ticker: not an object",))
    r = _Reader(row)
    last = r.number("last", "last_price", positive=True)
    volume = r.number("quoteVolume", "volume_24h_usd", non_negative=True)
    if volume is None and volume_in_contracts:
        contracts = r.number("baseVolume", "volume_24h_usd", non_negative=True)
        size = r.check(contract_size, "contract_size", positive=True)
        if contracts is not None and size is not None and last is not None:
            volume = contracts * size * last
    return _with_issues(
        Part(ts=r.time("timestamp", "ts"), checks_freshness=False, last_price=last, volume_24h_usd=volume),
        r.issues,
    )


def from_mark(ticker: object) -> Part:
    """A ccxt mark-price ticker (``fetch_mark_prices`` value) → mark price and its time.

    OKX ``GET /api/v5/public/mark-price`` row (as quoted in ccxt's ``okx.py``; the
    ``instType=SWAP`` rows have the same fields), and ccxt's::

        {"instId": "ETH-USDT", "instType": "MARGIN", "markPx": "2403.98",
         "ts": "1728578500703"}
        → {"symbol": "ETH/USDT", "markPrice": 2403.98, "timestamp": 1728578500703,
           "last": None, "indexPrice": None, ...}
    """
    row = _mapping(ticker)
    if row is None:
        return Part(issues=("mark: not an object",))
    r = _Reader(row)
    return _with_issues(
        Part(
            ts=r.time("timestamp", "ts"),
            mark_price=r.number("markPrice", "mark_price", positive=True),
            index_price=r.number("indexPrice", "index_price", positive=True),
        ),
        r.issues,
    )


def from_index_row(row_obj: object) -> Part:
    """A raw OKX index row (no unified method exists) → index price and its time.

    OKX ``GET /api/v5/market/index-tickers?quoteCcy=USDT`` ``data`` row (joined to the
    swap whose market ``info.uly`` equals ``instId``)::

        {"instId": "LTC-USDT", "idxPx": "65.74", "open24h": "65.37", "high24h": "66.15",
         "low24h": "64.97", "sodUtc0": "65.68", "sodUtc8": "65.54", "ts": "1728467346900"}
    """
    row = _mapping(row_obj)
    if row is None:
        return Part(issues=("index: not an object",))
    r = _Reader(row)
    return _with_issues(
        Part(ts=r.time("ts", "ts"), index_price=r.number("idxPx", "index_price", positive=True)), r.issues
    )


def from_open_interest(oi: object, *, contract_size: float | None, in_contracts: bool) -> Part:
    """A ccxt open-interest structure → OI in base units (and USD when given).

    Binance's per-symbol answer is read raw (``from_symbol_open_interest``).
    OKX ``GET /api/v5/public/open-interest?instType=SWAP`` counts contracts
    (``{"instId": "BTC-USDT-SWAP", "instType": "SWAP", "oi": "2125419", "oiCcy": "21254.19",
    "ts": "1664005108969"}`` → ``openInterestAmount`` 2125419, and ``openInterestValue``
    from ``oiUsd`` when sent); ``in_contracts`` multiplies by ``contractSize`` (``ctVal``).
    """
    row = _mapping(oi)
    if row is None:
        return Part(issues=("open interest: not an object",))
    r = _Reader(row)
    amount = r.number("openInterestAmount", "oi_contracts", non_negative=True)
    if amount is not None and in_contracts:
        size = r.check(contract_size, "contract_size", positive=True)
        amount = None if size is None else amount * size
    return _with_issues(
        Part(
            ts=r.time("timestamp", "ts"),
            oi_contracts=amount,
            oi_usd=r.number("openInterestValue", "oi_usd", non_negative=True),
        ),
        r.issues,
    )


def from_symbol_open_interest(
    raw: object, *, market_id: str, fields: SymbolOi, contract_size: float | None, in_contracts: bool
) -> Part:
    """The raw answer of a per-symbol OI request (``SymbolOi``) → OI in base units.

    Binance ``GET /fapi/v1/openInterest?symbol=BTCUSDT``::

        {"symbol": "BTCUSDT", "openInterest": "10659.509", "time": 1589437530011}

    An answer that names another symbol, or none, is junk: its figure cannot be filed
    under ``market_id``. No OI in it leaves ``oi_contracts`` ``None`` (the caller rejects it).
    """
    row = _mapping(raw)
    if row is None:
        return Part(issues=("open interest: not an object",))
    echoed = row.get(fields.id_param)
    if echoed != market_id:
        return Part(issues=(f"open interest: answer for {str(echoed)[:40]!r}, not {market_id}",))
    r = _Reader(row)
    amount = r.number(fields.amount, "oi_contracts", non_negative=True)
    if amount is not None and in_contracts:
        size = r.check(contract_size, "contract_size", positive=True)
        amount = None if size is None else amount * size
    return _with_issues(Part(ts=r.time(fields.time, "ts"), oi_contracts=amount), r.issues)


def oi_history_points(
    rows: object, *, contract_size: float | None, in_contracts: bool
) -> tuple[list[OiPoint], list[str]]:
    """ccxt OI-history structures → sorted, de-duplicated ``OiPoint``s; junk rows dropped.

    Binance ``GET /futures/data/openInterestHist?symbol=BTCUSDT&period=5m`` row, and ccxt's::

        {"symbol": "BTCUSDT", "sumOpenInterest": "75375.61700000",
         "sumOpenInterestValue": "3248828883.71251440", "timestamp": 1642179900000}
        → {"symbol": "BTC/USDT:USDT", "openInterestAmount": 75375.617,
           "openInterestValue": 3248828883.7125144, "timestamp": 1642179900000, ...}

    Bybit (``/v5/market/open-interest``) gives no value; OKX (``/api/v5/rubik/stat/
    contracts/open-interest-history``, rows ``[ts, contracts, base, usd]``) counts contracts.

    Returns:
        The points oldest first, and one issue string per dropped row.
    """
    issues: list[str] = []
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        return [], ["oi history: not a list"]
    points: dict[datetime, OiPoint] = {}
    for row in rows:
        part = from_open_interest(row, contract_size=contract_size, in_contracts=in_contracts)
        if part.ts is None or part.oi_contracts is None:
            issues.append("oi history row: " + ("; ".join(part.issues) or "no time or amount"))
            continue
        points[part.ts] = OiPoint(ts=part.ts, oi_contracts=part.oi_contracts, oi_usd=part.oi_usd)
    return [points[ts] for ts in sorted(points)], issues


def _first(parts: Sequence[Part], name: str) -> float | None:
    for part in parts:
        value = getattr(part, name)
        if value is not None:
            return float(value)
    return None


def assemble(
    exchange: str,
    symbol: str,
    parts: Iterable[Part],
    *,
    now: datetime,
    max_age: timedelta,
    default_interval_h: float | None = None,
) -> Assembled:
    """Merge one symbol's parts (earlier parts win) into a snapshot, or reject it.

    Rejected: no data time (``junk``); a freshness-checked part older than ``max_age`` at
    ``now`` (``stale``); no funding, mark or OI at all (``junk``). A missing funding
    interval falls back to ``default_interval_h``. OI USD, when no endpoint gives it, is
    OI × mark. Field issues come back as warnings on a kept snapshot.
    """
    parts = list(parts)
    issues = [issue for part in parts for issue in part.issues]
    dated = [p.ts for p in parts if p.ts is not None and p.checks_freshness]
    funding, mark, oi = (
        _first(parts, "funding_rate"),
        _first(parts, "mark_price"),
        _first(parts, "oi_contracts"),
    )
    interval = _first(parts, "funding_interval_h")
    if interval is None:
        interval = default_interval_h
        if interval is None and funding is not None:
            issues.append("funding_interval_h: unknown")
    warnings = tuple(SymbolFailure(symbol, reasons.REASON_JUNK, issue) for issue in dict.fromkeys(issues))
    if not dated:
        return Assembled(None, SymbolFailure(symbol, reasons.REASON_JUNK, "no data time"), warnings)
    age = (now - min(dated)).total_seconds()
    if age > max_age.total_seconds():
        return Assembled(None, SymbolFailure(symbol, reasons.REASON_STALE, f"data {age:.0f}s old"), warnings)
    if funding is None and mark is None and oi is None:
        return Assembled(None, SymbolFailure(symbol, reasons.REASON_JUNK, "no usable field"), warnings)
    oi_usd = _first(parts, "oi_usd")
    if oi_usd is None and oi is not None and mark is not None:
        oi_usd = oi * mark
    next_funding = next((p.next_funding_time for p in parts if p.next_funding_time is not None), None)
    snapshot = MarketSnapshot(
        exchange=exchange,
        symbol=symbol,
        ts=dated[0],
        oi_contracts=oi,
        oi_usd=oi_usd,
        mark_price=mark,
        index_price=_first(parts, "index_price"),
        last_price=_first(parts, "last_price"),
        funding_rate=funding,
        funding_interval_h=interval,
        next_funding_time=next_funding,
        volume_24h_usd=_first(parts, "volume_24h_usd"),
    )
    return Assembled(snapshot, None, warnings)
