"""The fake exchange refuses what each venue refuses, with that venue's status and body.

A plain HTTP client (no ccxt) plays a client that ignores the rules; the fake's clocks are
stepped by hand, so bans of minutes pass at once. Limits and bodies are the venues'
documented ones (see ``tests.fakes.exchange.limits``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.fakes.exchange import FakeExchange
from tests.fakes.exchange.binance import ROUTES as BINANCE_ROUTES
from tests.fakes.exchange.limits import RequestLimit
from tests.fakes.exchange.okx import ROUTES as OKX_ROUTES

OPEN_INTEREST_ROUTE = next(r for r in BINANCE_ROUTES if r.key == "openInterest")

WALL_ORIGIN = 1_800_000_000.0  # a minute boundary: each test starts a fresh weight window


class Clock:
    """Monotonic and wall time the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(fake: FakeExchange) -> Clock:
    c = Clock()
    fake.clock = lambda: c.now
    fake.wall = lambda: WALL_ORIGIN + c.now - 1000.0
    return c


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get(
    http: aiohttp.ClientSession, fake: FakeExchange, path: str, **params: str
) -> tuple[int, Any, dict[str, str]]:
    async with http.get(fake.url + path, params=params) as resp:
        text = await resp.text()
        body = await resp.json() if resp.content_type == "application/json" else text
        return resp.status, body, dict(resp.headers)


# -- Binance -----------------------------------------------------------------------------


async def test_binance_reports_used_weight_on_every_answer(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    status, _, headers = await get(http, fake, "/fapi/v1/premiumIndex")
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "10"  # no symbol: weight 10
    status, body, headers = await get(http, fake, "/fapi/v1/openInterest", symbol="NOPEUSDT")
    assert (status, body) == (400, {"code": -1121, "msg": "Invalid symbol."})
    assert headers["X-MBX-USED-WEIGHT-1M"] == "11"
    _, _, headers = await get(http, fake, "/futures/data/openInterestHist", symbol="BTCUSDT", period="5m")
    assert headers["X-MBX-USED-WEIGHT-1M"] == "11"  # weight 0: its own limit instead


async def test_binance_over_the_weight_limit_answers_429_with_retry_after(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.weight_limit = 15
    assert (await get(http, fake, "/fapi/v1/premiumIndex"))[0] == 200
    clock.advance(20)
    status, body, headers = await get(http, fake, "/fapi/v1/premiumIndex")

    assert status == 429
    assert body == {
        "code": -1003,
        "msg": "Too many requests; current limit of IP(127.0.0.1) is 15 requests per minute. "
        "Please use the websocket for live updates to avoid polling the API.",
    }
    assert headers["Retry-After"] == "40"  # until the next minute's window
    assert headers["X-MBX-USED-WEIGHT-1M"] == "20"

    clock.advance(40)  # waited as told: a new window, no ban
    status, _, headers = await get(http, fake, "/fapi/v1/premiumIndex")
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "10"
    assert fake.binance.bans == 0


async def test_binance_bans_a_client_that_keeps_calling_after_a_429_longer_each_time(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.weight_limit = 15
    bans = []
    for _ in range(3):
        assert (await get(http, fake, "/fapi/v1/premiumIndex"))[0] == 200
        assert (await get(http, fake, "/fapi/v1/premiumIndex"))[0] == 429
        # Requests arriving with the 429 may have left before it: answered 429, no strike.
        for _ in range(5):
            assert (await get(http, fake, "/fapi/v1/premiumIndex"))[0] == 429
        assert fake.binance.strikes == 0
        clock.advance(fake.binance.on_the_wire_s + 0.01)
        # Ignoring Retry-After: answered 429 again...
        for _ in range(fake.binance.strikes_to_ban - 1):
            assert (await get(http, fake, "/fapi/v1/premiumIndex"))[0] == 429
        # ...then banned.
        status, body, headers = await get(http, fake, "/fapi/v1/openInterest", symbol="BTCUSDT")
        assert status == 418
        assert body["code"] == -1003
        ban_s = int(headers["Retry-After"])
        banned_until_ms = int((fake.wall() + ban_s) * 1000)
        assert body["msg"] == (
            f"Way too many requests; IP(127.0.0.1) banned until {banned_until_ms}. "
            "Please use the websocket for live updates to avoid bans."
        )
        clock.advance(ban_s - 1)  # still banned, whatever the endpoint
        status, _, headers = await get(http, fake, "/fapi/v1/exchangeInfo")
        assert status == 418 and headers["Retry-After"] == "1"
        clock.advance(1)
        bans.append(ban_s)
    assert bans == [120, 240, 480]  # from 2 minutes, doubling (up to 3 days)
    assert fake.binance.bans == 3
    assert [r.status for r in fake.refusals].count(418) == 6


async def test_binance_ban_is_capped_at_three_days(fake: FakeExchange, clock: Clock) -> None:
    fake.binance.bans = 20  # a repeat offender
    fake.binance.note_429(clock.now, 60)
    clock.advance(fake.binance.on_the_wire_s + 0.01)
    for _ in range(fake.binance.strikes_to_ban):
        fake.binance.admit(fake, OPEN_INTEREST_ROUTE, {"symbol": "BTCUSDT"}, 1, {})
    assert fake.binance.banned_until - clock.now == 3 * 86400


async def test_request_log_carries_each_request_weight_and_peaks_per_window(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.weight_limit = 45
    await get(http, fake, "/fapi/v1/ticker/24hr")  # 40
    await get(http, fake, "/fapi/v1/openInterest", symbol="BTCUSDT")  # 1
    status, _, _ = await get(http, fake, "/fapi/v1/premiumIndex")  # 10: over 45, refused
    await get(http, fake, "/v5/market/tickers", category="linear")  # Bybit: one request

    assert status == 429
    assert [(r.dialect, r.weight) for r in fake.requests] == [
        ("binance", 40),
        ("binance", 1),
        ("binance", 10),  # refused requests count, as at Binance
        ("bybit", 1),
    ]
    assert fake.peak_weight(60.0, dialect="binance") == 51
    assert fake.peak_weight(60.0, dialect="bybit") == 1


async def test_binance_open_interest_history_has_its_own_request_limit(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.windows.overrides["futures/data"] = RequestLimit(3, 300.0, "futures/data")  # 1000 live
    for _ in range(3):
        status, _, _ = await get(http, fake, "/futures/data/openInterestHist", symbol="BTCUSDT", period="5m")
        assert status == 200
    clock.advance(100)
    status, body, headers = await get(
        http, fake, "/futures/data/openInterestHist", symbol="ETHUSDT", period="5m"
    )

    assert status == 429
    assert body["code"] == -1003
    assert "is 3 requests per 5 minutes" in body["msg"]
    assert headers["Retry-After"] == "200"
    assert headers["X-MBX-USED-WEIGHT-1M"] == "0"  # far from the weight limit: its own count


async def test_binance_funding_info_has_its_own_request_limit(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.windows.overrides["fundingRate"] = RequestLimit(2, 300.0, "fundingRate")  # 500 live
    statuses = [(await get(http, fake, "/fapi/v1/fundingInfo"))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]


# -- Bybit -------------------------------------------------------------------------------


async def test_bybit_ip_limit_answers_403_and_bans_for_ten_minutes(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.windows.overrides["bybit-ip"] = RequestLimit(4, 5.0, "bybit-ip")  # 600 per 5 s live
    for _ in range(4):
        clock.advance(0.5)
        assert (await get(http, fake, "/v5/market/tickers", category="linear"))[0] == 200
    status, body, headers = await get(http, fake, "/v5/market/tickers", category="linear")

    assert status == 403
    assert "access too frequent" in body
    assert "Retry-After" not in headers
    clock.advance(10)  # the window has room again, but the ban holds
    assert (await get(http, fake, "/v5/market/instruments-info", category="linear"))[0] == 403
    clock.advance(590)
    status, body, _ = await get(http, fake, "/v5/market/tickers", category="linear")
    assert status == 200 and body["retCode"] == 0
    assert [r.status for r in fake.refusals] == [403, 403]


async def test_a_scaled_fake_refuses_past_the_scaled_limit_and_an_override_still_wins(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    # A bench scales its client's budgets; the fake's limits scale alike (600 per 5 s × 0.01 = 6).
    fake.scale_limits(0.01)
    assert fake.weight_limit == 24
    for _ in range(6):
        assert (await get(http, fake, "/v5/market/tickers", category="linear"))[0] == 200
    assert (await get(http, fake, "/v5/market/tickers", category="linear"))[0] == 403
    clock.advance(600)
    fake.windows.overrides["bybit-ip"] = RequestLimit(1, 5.0, "bybit-ip")
    clock.advance(5)
    assert (await get(http, fake, "/v5/market/tickers", category="linear"))[0] == 200
    assert (await get(http, fake, "/v5/market/tickers", category="linear"))[0] == 403


async def test_bybit_counts_every_endpoint_against_one_ip_limit(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    fake.windows.overrides["bybit-ip"] = RequestLimit(2, 5.0, "bybit-ip")
    assert (await get(http, fake, "/v5/market/tickers", category="linear"))[0] == 200
    assert (await get(http, fake, "/v5/market/instruments-info", category="linear"))[0] == 200
    assert (await get(http, fake, "/v5/market/open-interest", symbol="BTCUSDT", intervalTime="5min"))[
        0
    ] == 403


# -- OKX ---------------------------------------------------------------------------------

OKX_PARAMS = {
    "instruments": {"instType": "SWAP"},
    "funding-rate": {"instId": "ANY"},
    "mark-price": {"instType": "SWAP"},
    "index-tickers": {"quoteCcy": "USDT"},
    "okx-open-interest": {"instType": "SWAP"},
    "okx-tickers": {"instType": "SWAP"},
    "open-interest-history": {"instId": "BTC-USDT-SWAP", "period": "5m"},
}
DOCUMENTED = {  # requests per 2 s, from OKX's v5 docs
    "instruments": 20,
    "funding-rate": 10,
    "mark-price": 10,
    "index-tickers": 20,
    "okx-open-interest": 20,
    "okx-tickers": 20,
    "open-interest-history": 10,
}


@pytest.mark.parametrize("route", OKX_ROUTES, ids=lambda r: r.key)
async def test_okx_per_endpoint_limit_answers_429_50011(
    route: Any, fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    assert route.limit is not None and route.limit.window_s == 2.0
    assert route.limit.count == DOCUMENTED[route.key]
    params = OKX_PARAMS[route.key]
    for _ in range(route.limit.count):
        status, body, _ = await get(http, fake, route.path, **params)
        assert (status, body["code"]) == (200, "0")
    status, body, _ = await get(http, fake, route.path, **params)

    assert status == 429
    assert body == {"code": "50011", "msg": "Too Many Requests", "data": []}
    clock.advance(2.0)  # a sliding 2-second window
    assert (await get(http, fake, route.path, **params))[0] == 200


async def test_okx_instrument_id_limits_count_each_instrument_apart(
    fake: FakeExchange, clock: Clock, http: aiohttp.ClientSession
) -> None:
    for _ in range(10):
        await get(http, fake, "/api/v5/public/funding-rate", instId="ANY")
    assert (await get(http, fake, "/api/v5/public/funding-rate", instId="ANY"))[0] == 429
    status, body, _ = await get(http, fake, "/api/v5/public/funding-rate", instId="BTC-USDT-SWAP")
    assert (status, body["code"]) == (200, "0")


async def test_okx_unknown_instrument_is_refused_in_okx_shape(
    fake: FakeExchange, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await get(http, fake, "/api/v5/public/funding-rate", instId="NOPE-USDT-SWAP")
    assert (status, body) == (200, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
