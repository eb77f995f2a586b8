"""Normalisation of ccxt structures: exact on good payloads, total on junk.

The property tests throw arbitrary JSON-like values and ccxt-shaped rows full of junk at
every parser and at ``assemble``: nothing may raise, nothing non-finite or out of range
may come out, and junk is rejected with a reason.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.collector import normalize
from bot.collector.normalize import Part, assemble
from bot.collector.profiles import BYBIT, SymbolOi
from bot.collector.request_budget import Budget, weight_budget
from bot.core import collection as reasons

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
MAX_AGE = timedelta(minutes=10)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=25,
)
junk_number = st.one_of(
    st.none(),
    st.just(""),
    st.just("abc"),
    st.just("NaN"),
    st.just("-inf"),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.just(10**400),  # JSON integers are unbounded; float() overflows
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.lists(st.integers(), max_size=2),
)
KEYS = (
    "symbol",
    "markPrice",
    "indexPrice",
    "fundingRate",
    "fundingTimestamp",
    "nextFundingTimestamp",
    "timestamp",
    "interval",
    "last",
    "quoteVolume",
    "baseVolume",
    "openInterestAmount",
    "openInterestValue",
    "idxPx",
    "ts",
)
ccxt_like = st.fixed_dictionaries({}, optional=dict.fromkeys(KEYS, junk_number)).map(
    lambda row: {**row, "info": {"openInterest": row.get("baseVolume"), "turnover24h": row.get("last")}}
)
anything = st.one_of(json_values, ccxt_like)


def _parse_all(row: Any) -> list[Part]:
    return [
        normalize.from_funding_rate(row),
        normalize.from_funding_rate(row, BYBIT.info_fields),
        normalize.from_funding_interval(row),
        normalize.from_ticker(row, contract_size=0.01, volume_in_contracts=True),
        normalize.from_ticker(row, contract_size=None, volume_in_contracts=False),
        normalize.from_mark(row),
        normalize.from_index_row(row),
        normalize.from_open_interest(row, contract_size=0.1, in_contracts=True),
        normalize.from_open_interest(row, contract_size=1.0, in_contracts=False),
    ]


def _assert_sane(part: Part) -> None:
    for name in ("mark_price", "index_price", "last_price"):
        value = getattr(part, name)
        assert value is None or (math.isfinite(value) and value > 0), name
    for name in ("oi_contracts", "oi_usd", "volume_24h_usd"):
        value = getattr(part, name)
        assert value is None or (math.isfinite(value) and value >= 0), name
    assert part.funding_rate is None or abs(part.funding_rate) <= normalize.MAX_ABS_FUNDING
    assert part.funding_interval_h is None or 0 < part.funding_interval_h <= 24
    for moment in (part.ts, part.next_funding_time):
        assert moment is None or moment.tzinfo is not None


@given(anything)
def test_parsers_never_raise_and_never_emit_junk(row: Any) -> None:
    for part in _parse_all(row):
        _assert_sane(part)


@given(st.lists(anything, max_size=6))
def test_assemble_never_raises_and_keeps_only_sane_snapshots(rows: list[Any]) -> None:
    parts = [p for row in rows for p in _parse_all(row)]
    result = assemble("binanceusdm", "BTCUSDT", parts, now=NOW, max_age=MAX_AGE, default_interval_h=8.0)
    assert (result.snapshot is None) != (result.failure is None)
    if result.snapshot is None:
        assert result.failure is not None
        assert result.failure.reason in {reasons.REASON_JUNK, reasons.REASON_STALE}
        return
    snap = result.snapshot
    assert NOW - snap.ts <= MAX_AGE
    for value in (snap.oi_contracts, snap.oi_usd, snap.mark_price, snap.index_price, snap.funding_rate):
        assert value is None or math.isfinite(value)
    assert snap.funding_rate is not None or snap.mark_price is not None or snap.oi_contracts is not None


@given(json_values)
def test_oi_history_and_weight_budget_never_raise(value: Any) -> None:
    points, issues = normalize.oi_history_points(value, contract_size=0.01, in_contracts=True)
    assert all(math.isfinite(p.oi_contracts) and p.oi_contracts >= 0 for p in points)
    assert [p.ts for p in points] == sorted({p.ts for p in points})
    budget = weight_budget(value, "X-MBX-USED-WEIGHT-")
    assert budget is None or (budget.limit > 0 and budget.window_s > 0)
    assert isinstance(issues, list)


# -- exact cases ---------------------------------------------------------------------------


def _funding(**overrides: Any) -> dict[str, Any]:
    row = {
        "symbol": "BTC/USDT:USDT",
        "markPrice": 91250.0,
        "indexPrice": 91213.5,
        "fundingRate": 0.0001,
        "fundingTimestamp": NOW_MS + 4 * 3_600_000,
        "timestamp": NOW_MS - 1_000,
        "interval": None,
        "info": {},
    }
    return {**row, **overrides}


def test_binance_premium_index_row() -> None:
    part = normalize.from_funding_rate(_funding())
    assert part == Part(
        ts=NOW - timedelta(seconds=1),
        funding_rate=0.0001,
        next_funding_time=NOW + timedelta(hours=4),
        mark_price=91250.0,
        index_price=91213.5,
    )


@pytest.mark.parametrize(("text", "hours"), [("8h", 8.0), ("4h", 4.0), ("1h", 1.0), ("30m", 0.5), (4, 4.0)])
def test_interval_strings(text: object, hours: float) -> None:
    assert normalize.interval_hours(text) == hours


@pytest.mark.parametrize("text", ["0h", "-8h", "48h", "eight", "", None, True, "nanh"])
def test_junk_intervals(text: object) -> None:
    assert normalize.interval_hours(text) is None


def _okx_funding(interval_ms: int, label: object) -> dict[str, Any]:
    """ccxt's OKX funding structure: ``interval`` is its label, or the gap in ms it has none for."""
    upcoming = NOW_MS + 3_600_000
    return {
        "symbol": "BTC/USDT:USDT",
        "fundingRate": 0.0001,
        "fundingTimestamp": upcoming,
        "nextFundingTimestamp": upcoming + interval_ms,
        "timestamp": None,
        "interval": label,
    }


@pytest.mark.parametrize("hours", [1, 2, 3, 4, 5, 6, 7, 8])
def test_okx_interval_without_a_ccxt_label_comes_from_the_settlement_times(hours: int) -> None:
    # ccxt 4.5.90 okx.parse_funding_interval names 1, 2, 4, 8, 16 and 24 h only and
    # passes any other gap through as its milliseconds: 6 h is '21600000'.
    ms = hours * 3_600_000
    label = {1: "1h", 2: "2h", 4: "4h", 8: "8h"}.get(hours, str(ms))
    part = normalize.from_funding_rate(_okx_funding(ms, label))
    assert part.funding_interval_h == hours
    assert part.issues == ()


@pytest.mark.parametrize(
    ("interval_ms", "label"),
    [
        (0, "0"),  # one settlement time twice
        (-21_600_000, "-21600000"),
        (1_800_000, "1800000"),  # 30 min: below the 1 h a derived gap may be
        (90_000_000, "90000000"),  # 25 h
        (21_600_001, "21600001"),  # not whole minutes: not two settlement times
    ],
)
def test_an_implausible_gap_between_settlement_times_is_no_interval(interval_ms: int, label: str) -> None:
    part = normalize.from_funding_rate(_okx_funding(interval_ms, label))
    assert part.funding_interval_h is None
    assert part.issues == ("funding_interval_h: not an interval",)


def test_a_ccxt_label_wins_over_the_settlement_times() -> None:
    # Bybit's label comes from the market's fundingInterval; its row has no next-but-one time.
    assert normalize.from_funding_rate(_okx_funding(21_600_000, "4h")).funding_interval_h == 4.0
    assert (
        normalize.from_funding_rate(
            {**_okx_funding(0, "8h"), "nextFundingTimestamp": None}
        ).funding_interval_h
        == 8.0
    )


def test_zero_index_becomes_none_with_a_warning() -> None:
    result = assemble(
        "binanceusdm",
        "BTCUSDT",
        [normalize.from_funding_rate(_funding(indexPrice=0.0))],
        now=NOW,
        max_age=MAX_AGE,
        default_interval_h=8.0,
    )
    assert result.snapshot is not None and result.snapshot.index_price is None
    assert [w.detail for w in result.warnings] == ["index_price: zero or negative"]


def test_negative_oi_and_nan_mark_are_rejected_fields() -> None:
    oi = normalize.from_open_interest(
        {"openInterestAmount": -5.0, "timestamp": NOW_MS}, contract_size=1.0, in_contracts=False
    )
    mark = normalize.from_funding_rate(_funding(markPrice=float("nan")))
    assert oi.oi_contracts is None and oi.issues == ("oi_contracts: negative",)
    assert mark.mark_price is None and mark.issues == ("mark_price: not finite",)


def test_absurd_funding_is_rejected() -> None:
    assert normalize.from_funding_rate(_funding(fundingRate=3.5)).funding_rate is None


def test_row_without_a_time_is_rejected() -> None:
    result = assemble(
        "okx", "X", [normalize.from_funding_rate(_funding(timestamp=None))], now=NOW, max_age=MAX_AGE
    )
    assert result.snapshot is None and result.failure is not None
    assert result.failure.reason == reasons.REASON_JUNK


def test_stale_part_rejects_the_snapshot() -> None:
    fresh = normalize.from_funding_rate(_funding())
    old_oi = normalize.from_open_interest(
        {"openInterestAmount": 10.0, "timestamp": NOW_MS - 11 * 60_000}, contract_size=1.0, in_contracts=False
    )
    result = assemble("binanceusdm", "BTCUSDT", [fresh, old_oi], now=NOW, max_age=MAX_AGE)
    assert result.failure is not None and result.failure.reason == reasons.REASON_STALE


def test_an_old_24h_ticker_does_not_make_the_snapshot_stale() -> None:
    fresh = normalize.from_funding_rate(_funding())
    ticker = normalize.from_ticker(
        {"last": 1.0, "quoteVolume": 5.0, "timestamp": NOW_MS - 3_600_000},
        contract_size=1,
        volume_in_contracts=False,
    )
    result = assemble("binanceusdm", "BTCUSDT", [fresh, ticker], now=NOW, max_age=MAX_AGE)
    assert result.snapshot is not None and result.snapshot.volume_24h_usd == 5.0


def test_missing_interval_falls_back_to_the_default_or_warns() -> None:
    parts = [normalize.from_funding_rate(_funding())]
    kept = assemble("binanceusdm", "BTCUSDT", parts, now=NOW, max_age=MAX_AGE, default_interval_h=8.0)
    assert kept.snapshot is not None and kept.snapshot.funding_interval_h == 8.0
    unknown = assemble("okx", "BTC-USDT-SWAP", parts, now=NOW, max_age=MAX_AGE)
    assert unknown.snapshot is not None and unknown.snapshot.funding_interval_h is None
    assert [w.detail for w in unknown.warnings] == ["funding_interval_h: unknown"]


def test_okx_contracts_become_base_units_and_usd_falls_back_to_mark() -> None:
    oi = normalize.from_open_interest(
        {"openInterestAmount": 2_125_419.0, "openInterestValue": None, "timestamp": NOW_MS},
        contract_size=0.01,
        in_contracts=True,
    )
    result = assemble(
        "okx", "BTC-USDT-SWAP", [normalize.from_funding_rate(_funding()), oi], now=NOW, max_age=MAX_AGE
    )
    assert result.snapshot is not None
    assert result.snapshot.oi_contracts == pytest.approx(21_254.19)
    assert result.snapshot.oi_usd == pytest.approx(21_254.19 * 91250.0)


def test_okx_ticker_volume_in_contracts() -> None:
    part = normalize.from_ticker(
        {"last": 100.0, "baseVolume": 5_000.0, "quoteVolume": None, "timestamp": NOW_MS},
        contract_size=0.1,
        volume_in_contracts=True,
    )
    assert part.volume_24h_usd == pytest.approx(5_000 * 0.1 * 100.0)


def test_bybit_info_fields() -> None:
    row = _funding(
        interval="4h",
        info={
            "openInterest": "48069.549",
            "openInterestValue": "9.1e8",
            "turnover24h": "4686694853.04",
            "lastPrice": "19255.50",
        },
    )
    part = normalize.from_funding_rate(row, BYBIT.info_fields)
    assert (
        part.oi_contracts,
        part.oi_usd,
        part.volume_24h_usd,
        part.last_price,
        part.funding_interval_h,
    ) == (
        48069.549,
        9.1e8,
        4686694853.04,
        19255.5,
        4.0,
    )


def test_oi_history_rows_sorted_deduplicated_junk_dropped() -> None:
    rows = [
        {"openInterestAmount": 2.0, "openInterestValue": 20.0, "timestamp": NOW_MS},
        {"openInterestAmount": 1.0, "openInterestValue": 10.0, "timestamp": NOW_MS - 300_000},
        {"openInterestAmount": 2.0, "openInterestValue": 20.0, "timestamp": NOW_MS},
        {"openInterestAmount": "x", "timestamp": NOW_MS - 600_000},
        "junk",
    ]
    points, issues = normalize.oi_history_points(rows, contract_size=1.0, in_contracts=False)
    assert [(p.ts, p.oi_contracts, p.oi_usd) for p in points] == [
        (NOW - timedelta(minutes=5), 1.0, 10.0),
        (NOW, 2.0, 20.0),
    ]
    assert len(issues) == 2


def test_weight_budget_from_exchange_info() -> None:
    info = {
        "rateLimits": [
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        ]
    }
    assert weight_budget(info, "X-MBX-USED-WEIGHT-") == Budget(2400, 60.0, "X-MBX-USED-WEIGHT-1M")
    assert weight_budget({"rateLimits": "soon"}, "X-") is None


# -- the raw per-symbol OI answer (Binance /fapi/v1/openInterest) ----------------------

SYMBOL_OI = SymbolOi("fapiPublicGetOpenInterest")


def _symbol_oi(raw: object, *, size: float | None = None, contracts: bool = False) -> Part:
    return normalize.from_symbol_open_interest(
        raw, market_id="BTCUSDT", fields=SYMBOL_OI, contract_size=size, in_contracts=contracts
    )


def test_symbol_open_interest_reads_binances_answer() -> None:
    part = _symbol_oi({"symbol": "BTCUSDT", "openInterest": "10659.509", "time": 1589437530011})
    assert part.oi_contracts == 10659.509 and part.issues == ()
    assert part.ts == datetime(2020, 5, 14, 6, 25, 30, 11000, tzinfo=UTC)
    assert _symbol_oi(
        {"symbol": "BTCUSDT", "openInterest": "3", "time": 1589437530011}, size=0.1, contracts=True
    ).oi_contracts == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("raw", "issue"),
    [
        (
            {"symbol": "ETHUSDT", "openInterest": "1", "time": 1589437530011},
            "answer for 'ETHUSDT', not BTCUSDT",
        ),
        ({"openInterest": "1"}, "answer for 'None', not BTCUSDT"),
        ({"symbol": "BTCUSDT", "openInterest": "-1"}, "oi_contracts: negative"),
        ({"symbol": "BTCUSDT", "openInterest": "inf"}, "oi_contracts: not finite"),
        ({"symbol": "BTCUSDT", "openInterest": True}, "oi_contracts: not a number"),
        ({"symbol": "BTCUSDT", "openInterest": "1", "time": "yesterday"}, "ts: not a time"),
        ('{"symbol": "BTCUSDT", "openInterest": "12', "open interest: not an object"),
        ([], "open interest: not an object"),
    ],
)
def test_symbol_open_interest_junk_is_named_not_read(raw: object, issue: str) -> None:
    part = _symbol_oi(raw)
    assert any(issue in text for text in part.issues), part.issues
    if issue != "ts: not a time":
        assert part.oi_contracts is None


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(
    st.one_of(
        _JSON,
        st.fixed_dictionaries(
            {"symbol": st.sampled_from(["BTCUSDT", "ETHUSDT"]), "openInterest": _JSON, "time": _JSON}
        ),
    )
)
def test_symbol_open_interest_never_raises_and_never_files_junk(raw: object) -> None:
    part = _symbol_oi(raw)
    if part.oi_contracts is not None:
        assert isinstance(raw, dict) and raw["symbol"] == "BTCUSDT"
        assert math.isfinite(part.oi_contracts) and part.oi_contracts >= 0
