"""Every exchange fault class: the cycle completes for the healthy symbols, reports the rest.

The fake exchange injects the fault over HTTP; the real ccxt client meets it and the
source must contain it: retry what is transient, pause on 429/418, skip and report what
is not, never let one symbol sink the cycle.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from bot.collector.errors import ExchangeUnavailableError
from bot.core import collection as reasons
from bot.core.collection import FetchReport
from tests.contract.conftest import FAST, SourceFactory
from tests.fakes.exchange import FakeExchange, FakeMarket
from tests.fakes.exchange.limits import RequestLimit

RATE_LIMITED = {"code": -1003, "msg": "Too many requests; current limit of IP is 2400 requests per minute."}


def _ok(report: FetchReport) -> set[str]:
    return {s.symbol for s in report.snapshots}


def _failed(report: FetchReport) -> dict[str, str]:
    return {f.symbol: f.reason for f in report.failures}


TOO_MANY_VISITS = {"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 1}

HEALTHY = {"1000PEPEUSDT", "BTCUSDT", "DOGEUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"}


async def test_latency_slows_the_cycle_but_every_symbol_arrives(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("openInterest", "delay", symbol="ETHUSDT", delay_s=0.3)
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _ok(report) == HEALTHY
    assert report.duration_s >= 0.3


async def test_per_symbol_calls_are_bounded_by_the_semaphore(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market = FakeMarket.generated(12)
    fake.latency_s = 0.1  # ccxt's 2 ms spacing would put all 12 on the wire at once
    report = await make_source(tuning=replace(FAST, concurrency=3)).fetch_cycle(datetime.now(UTC))
    assert len(report.snapshots) == 12
    assert fake.peak_in_flight["openInterest"] == 3


async def test_timeout_on_one_symbol_is_reported_after_bounded_retries(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("openInterest", "delay", symbol="ETHUSDT", delay_s=3.0)  # client timeout 0.5s
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _ok(report) == HEALTHY - {"ETHUSDT"}
    assert _failed(report) == {"ETHUSDT": reasons.REASON_TIMEOUT}
    eth = [r for r in fake.calls("openInterest") if r.params["symbol"] == "ETHUSDT"]
    assert len(eth) == FAST.max_attempts


async def test_transient_5xx_is_retried_with_backoff(fake: FakeExchange, make_source: SourceFactory) -> None:
    fake.inject("openInterest", "status", symbol="BTCUSDT", status=503, times=2)
    fake.inject("premiumIndex", "status", status=502, times=1)
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _ok(report) == HEALTHY
    btc = [r.t for r in fake.calls("openInterest") if r.params["symbol"] == "BTCUSDT"]
    assert len(btc) == 3
    # jitter 0.5 → backoff 0.75 × base, then 0.75 × 2 × base.
    assert btc[1] - btc[0] >= 0.75 * FAST.backoff_base_s * 0.9
    assert btc[2] - btc[1] >= 1.5 * FAST.backoff_base_s * 0.9


async def test_persistent_5xx_on_one_symbol_is_reported(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("openInterest", "status", symbol="SOLUSDT", status=500, body="<html>Internal error</html>")
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _ok(report) == HEALTHY - {"SOLUSDT"}
    assert _failed(report) == {"SOLUSDT": reasons.REASON_UNAVAILABLE}


async def test_429_with_retry_after_pauses_the_whole_exchange(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market = FakeMarket.generated(30)
    # 10 ms between request starts: the 30 OI calls would take 0.3 s without the pause.
    source = make_source(tuning=replace(FAST, rate_limit_ms=10))
    await source.load_universe()
    fake.inject(
        "openInterest",
        "status",
        symbol="S003USDT",
        status=429,
        body=RATE_LIMITED,
        headers={"Retry-After": "1"},
        times=1,
    )
    report = await source.fetch_cycle(datetime.now(UTC))

    assert len(report.snapshots) == 30  # S003 retried after the pause
    hit = next(r for r in fake.calls("openInterest") if r.params["symbol"] == "S003USDT")
    later = sorted(r.t - hit.t for r in fake.requests if r.t > hit.t)
    # Only requests already on the wire may arrive during the pause; the rest wait 1 s. On a
    # loaded machine those on the wire can arrive a little late, so the pause is found as
    # the silence it leaves: a second with no request, right after the stragglers.
    silences = [(b - a, a) for a, b in pairwise([0.0, *later]) if b - a >= 0.95]
    assert silences, f"no pause after the 429: {later}"
    _, paused_at = silences[0]
    assert paused_at < 0.5, f"requests kept coming for {paused_at:.2f} s after the 429"
    assert len([gap for gap in later if gap >= 0.95]) >= 25
    assert fake.binance.bans == 0  # the fake bans a client that ignores Retry-After


async def test_after_a_pause_one_request_goes_first_so_a_repeated_429_earns_no_ban(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    """The exchange still refuses when the pause ends: only one request may meet that.

    Releasing every held request at once would put a burst on the wire behind a second
    429, and Binance bans an IP that keeps calling after a 429 (418, 2 minutes and up).
    """
    fake.market = FakeMarket.generated(30)
    source = make_source(tuning=replace(FAST, rate_limit_ms=10, concurrency=16))
    await source.load_universe()
    fault = fake.inject(
        "openInterest", "status", status=429, body=RATE_LIMITED, headers={"Retry-After": "1"}, times=2
    )
    report = await source.fetch_cycle(datetime.now(UTC))

    assert fault.hits == 2
    assert fake.binance.bans == 0
    assert 418 not in {r.status for r in fake.refusals}
    assert len(report.snapshots) == 30


async def test_418_with_a_long_ban_fails_fast_instead_of_waiting(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source()
    await source.load_universe()
    fake.inject(
        "openInterest",
        "status",
        symbol="BTCUSDT",
        status=418,
        body={"code": -1003, "msg": "Way too many requests; IP banned until 1795640000000."},
        headers={"Retry-After": "120"},
    )
    # Waiting the ban out would take 120 s; the cycle must end well before (a generous
    # deadline, not a measurement).
    report = await asyncio.wait_for(source.fetch_cycle(datetime.now(UTC)), timeout=60)
    failed = _failed(report)
    assert failed["BTCUSDT"] == reasons.REASON_RATE_LIMITED
    assert set(failed.values()) <= {reasons.REASON_RATE_LIMITED, reasons.REASON_PAUSED}

    before = len(fake.requests)
    with pytest.raises(ExchangeUnavailableError) as caught:
        await source.fetch_cycle(datetime.now(UTC))
    assert caught.value.kind == reasons.REASON_PAUSED
    assert caught.value.retry_after is not None and caught.value.retry_after > 100
    assert len(fake.requests) == before  # nothing was sent during the ban


async def test_malformed_json_for_one_symbol_is_reported(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("openInterest", "malformed", symbol="XRPUSDT")
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _ok(report) == HEALTHY - {"XRPUSDT"}
    assert _failed(report) == {"XRPUSDT": reasons.REASON_JUNK}


async def test_malformed_json_from_an_optional_bulk_leaves_its_fields_missing(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("ticker/24hr", "malformed")
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert _ok(report) == HEALTHY
    assert all(s.last_price is None and s.volume_24h_usd is None for s in report.snapshots)
    assert all(s.mark_price is not None and s.oi_contracts is not None for s in report.snapshots)


async def test_malformed_json_from_the_funding_bulk_reports_every_symbol(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("premiumIndex", "malformed")
    report = await make_source().fetch_cycle(datetime.now(UTC))
    assert report.snapshots == ()
    assert set(_failed(report)) == HEALTHY


@pytest.mark.parametrize(
    ("exchange", "endpoint", "symbol"),
    [
        ("binanceusdm", "premiumIndex", "XRPUSDT"),
        ("bybit", "tickers", "XRPUSDT"),
        ("okx", "funding-rate", "XRP-USDT-SWAP"),
    ],
)
async def test_symbol_missing_from_the_bulk_answer_is_reported(
    exchange: str, endpoint: str, symbol: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject(endpoint, "omit", symbol=symbol)
    report = await make_source(exchange).fetch_cycle(datetime.now(UTC))
    assert len(report.snapshots) == 5
    assert _failed(report) == {symbol: reasons.REASON_MISSING}


@pytest.mark.parametrize(
    ("exchange", "symbol"), [("binanceusdm", "SOLUSDT"), ("bybit", "SOLUSDT"), ("okx", "SOL-USDT-SWAP")]
)
async def test_zero_index_price_means_no_basis_not_a_crash(
    exchange: str, symbol: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market.instruments["SOL"].zero_index = True
    report = await make_source(exchange).fetch_cycle(datetime.now(UTC))
    sol = next(s for s in report.snapshots if s.symbol == symbol)
    assert sol.index_price is None
    assert sol.mark_price is not None and sol.funding_rate is not None and sol.oi_contracts is not None
    assert [(w.symbol, w.reason) for w in report.warnings] == [(symbol, reasons.REASON_JUNK)]
    assert "index_price" in report.warnings[0].detail
    assert report.failures == ()


@pytest.mark.parametrize(("exchange", "symbol"), [("binanceusdm", "ETHUSDT"), ("okx", "ETH-USDT-SWAP")])
async def test_stale_data_is_reported_not_returned_as_fresh(
    exchange: str, symbol: str, fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market.instruments["ETH"].lag_s = 601  # two 300 s cycles and a second
    report = await make_source(exchange, cycle_interval_s=300).fetch_cycle(datetime.now(UTC))
    assert symbol not in _ok(report)
    assert _failed(report) == {symbol: reasons.REASON_STALE}


async def test_bybit_stale_answer_reports_every_symbol(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.market.instruments["ETH"].lag_s = 900  # Bybit dates the whole answer
    report = await make_source("bybit", cycle_interval_s=300).fetch_cycle(datetime.now(UTC))
    assert report.snapshots == ()
    assert set(_failed(report).values()) == {reasons.REASON_STALE}


async def test_bybit_rate_limit_code_pauses_then_retries(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("tickers", "status", status=200, body=TOO_MANY_VISITS, times=1)
    report = await make_source("bybit").fetch_cycle(datetime.now(UTC))
    assert len(report.snapshots) == 6
    first, second = fake.calls("tickers")[-2:]
    assert second.t - first.t >= FAST.default_pause_s * 0.95  # no Retry-After: the default pause


async def test_a_call_of_several_requests_can_be_the_probe_after_a_pause(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source("bybit")
    await source.load_universe()
    per_load = len(fake.calls("instruments-info"))
    assert per_load > 1  # ccxt loads Bybit's markets in more than one request
    fault = fake.inject("instruments-info", "status", status=200, body=TOO_MANY_VISITS, times=1)

    # After the pause the reload is the probe: all its requests go, none waits for another.
    universe = await asyncio.wait_for(source.load_universe(), timeout=60)
    assert len(universe) == 6
    assert fault.hits == 1
    refused_at = fake.calls("instruments-info")[per_load].t
    assert len([r for r in fake.calls("instruments-info") if r.t > refused_at]) >= per_load


async def test_bybit_ip_ban_keeps_the_source_away_for_ten_minutes(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    """Bybit's IP limit answers a bare 403 (no Retry-After) and bans for at least 10 minutes."""
    source = make_source("bybit")
    await source.load_universe()
    fake.windows.overrides["bybit-ip"] = RequestLimit(0, 5.0, "bybit-ip")  # the next request is one too many

    with pytest.raises(ExchangeUnavailableError) as caught:
        await source.fetch_cycle(datetime.now(UTC))
    assert caught.value.kind == reasons.REASON_RATE_LIMITED
    assert caught.value.http_status == 403
    # Not retried during the ban: retrying only meets the 403 again.
    assert [(r.key, r.status) for r in fake.refusals] == [("tickers", 403)]

    sent = len(fake.requests)
    with pytest.raises(ExchangeUnavailableError) as caught:
        await source.fetch_cycle(datetime.now(UTC))
    assert caught.value.kind == reasons.REASON_PAUSED
    assert caught.value.retry_after is not None and caught.value.retry_after > 590
    assert len(fake.requests) == sent


async def test_okx_rate_limit_answer_pauses_then_retries(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    source = make_source("okx")
    await source.load_universe()
    # Another client on the same IP has just used the endpoint's whole allowance.
    limit = fake.windows.overrides["mark-price"] = RequestLimit(1, 0.3, "mark-price")
    fake.windows.hit(limit, {}, fake.clock())
    report = await source.fetch_cycle(datetime.now(UTC))

    assert len(report.snapshots) == 6
    assert [(r.key, r.status) for r in fake.refusals] == [("mark-price", 429)]
    refused, retried = fake.calls("mark-price")[-2:]
    assert retried.t - refused.t >= FAST.default_pause_s * 0.95  # no Retry-After: the default pause


async def test_okx_open_interest_outage_leaves_oi_missing_only(
    fake: FakeExchange, make_source: SourceFactory
) -> None:
    fake.inject("okx-open-interest", "status", status=503)
    report = await make_source("okx").fetch_cycle(datetime.now(UTC))
    assert len(report.snapshots) == 6
    assert all(s.oi_contracts is None and s.mark_price is not None for s in report.snapshots)
