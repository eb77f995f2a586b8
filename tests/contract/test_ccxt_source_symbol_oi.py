"""Binance's per-symbol OI through ccxt's implicit endpoint, its raw answer read by us.

The real ccxt client against the fake: the request is the one the unified method sent
(same path, parameter and weight), a junk answer fails its own symbol with a clear reason
and nothing else, and Binance's real error answers still map as before (ccxt's
``handle_errors`` sits in ``fetch2``, under both methods).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core import collection as reasons
from bot.core.collection import FetchReport
from tests.contract.conftest import SourceFactory
from tests.fakes.exchange import FakeExchange

HEALTHY = {"1000PEPEUSDT", "BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}


def _failed(report: FetchReport) -> dict[str, str]:
    return {f.symbol: f.reason for f in report.failures}


def _oi(fake: FakeExchange) -> dict[str, float]:
    return {i.binance_id: i.oi_base for i in fake.market.trading()}


async def test_one_request_per_symbol_as_before_and_each_value_under_its_own_symbol(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source()
    await source.load_universe()
    fake.requests.clear()
    report = await source.fetch_cycle(datetime.now(UTC))

    calls = fake.calls("openInterest")
    assert sorted(tuple(r.params.items()) for r in calls) == sorted((("symbol", s),) for s in HEALTHY)
    assert {r.path for r in calls} == {"/fapi/v1/openInterest"} and {r.weight for r in calls} == {1}
    assert {s.symbol: s.oi_contracts for s in report.snapshots} == pytest.approx(_oi(fake), rel=1e-9)


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        # Another symbol's answer: filing its figure under ETH would be a silent lie.
        (lambda: {"symbol": "BTCUSDT", "openInterest": "5.0", "time": _now_ms()}, "answer for 'BTCUSDT'"),
        (lambda: {"openInterest": "5.0", "time": _now_ms()}, "answer for 'None'"),
        (
            lambda: {"symbol": "ETHUSDT", "openInterest": "abc", "time": _now_ms()},
            "oi_contracts: not a number",
        ),
        (lambda: {"symbol": "ETHUSDT", "openInterest": "-1", "time": _now_ms()}, "oi_contracts: negative"),
        (lambda: {"symbol": "ETHUSDT", "openInterest": "NaN", "time": _now_ms()}, "oi_contracts: not finite"),
        (lambda: {"symbol": "ETHUSDT", "time": _now_ms()}, "no open interest in the answer"),
        (lambda: [{"symbol": "ETHUSDT", "openInterest": "5.0"}], "not an object"),
        (lambda: "OK", "not an object"),
    ],
)
async def test_a_junk_answer_fails_its_symbol_only(
    body: Any, detail: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("openInterest", "status", symbol="ETHUSDT", status=200, body=body())
    report = await make_source().fetch_cycle(datetime.now(UTC))

    assert _failed(report) == {"ETHUSDT": reasons.REASON_JUNK}
    assert detail in report.failures[0].detail
    # Nothing lost: every other symbol arrives with its own figure, BTC's untouched.
    oi = _oi(fake)
    assert {s.symbol: s.oi_contracts for s in report.snapshots} == pytest.approx(
        {k: v for k, v in oi.items() if k != "ETHUSDT"}, rel=1e-9
    )


async def test_a_junk_time_is_a_warning_and_the_row_keeps_its_other_times(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject(
        "openInterest",
        "status",
        symbol="ETHUSDT",
        status=200,
        body={"symbol": "ETHUSDT", "openInterest": "7.5", "time": "soon"},
    )
    report = await make_source().fetch_cycle(datetime.now(UTC))
    eth = next(s for s in report.snapshots if s.symbol == "ETHUSDT")
    assert eth.oi_contracts == 7.5
    assert any(w.symbol == "ETHUSDT" and "ts: not a time" in w.detail for w in report.warnings)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        # Binance's own error answers (developers.binance.com, "Error Codes"); ccxt 4.5.90
        # maps -1008 to OperationFailed (an ExchangeError, not an outage), whatever the status.
        (400, {"code": -1121, "msg": "Invalid symbol."}, reasons.REASON_BAD_SYMBOL),
        (
            500,
            {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
            reasons.REASON_UNAVAILABLE,
        ),
        (
            503,
            {
                "code": -1008,
                "msg": "Server is currently overloaded with other requests. "
                "Please try again in a few minutes.",
            },
            reasons.REASON_EXCHANGE_ERROR,
        ),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", reasons.REASON_UNAVAILABLE),
    ],
)
async def test_binance_error_answers_map_as_through_the_unified_method(
    status: int, body: Any, reason: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("openInterest", "status", symbol="SOLUSDT", status=status, body=body)
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _failed(report) == {"SOLUSDT": reason}
    assert {s.symbol for s in report.snapshots} == HEALTHY - {"SOLUSDT"}
