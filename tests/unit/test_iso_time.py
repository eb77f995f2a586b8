"""``iso_time.fast_iso8601`` answers exactly as ccxt's ``iso8601`` for every input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.collector.ccxt_loading import exchange_class
from bot.collector.client import SourceTuning, new_exchange
from bot.collector.iso_time import fast_iso8601
from bot.collector.profiles import profile_for
from bot.collector.request_budget import ExchangeGate

CCXT = exchange_class("okx").iso8601  # ccxt's own, inherited from its base Exchange
FAST = fast_iso8601(CCXT)

MAX_MS = 8_640_000_000_000_000
YEAR_10000_MS = 253_402_300_800_000  # the first millisecond ccxt's datetime cannot hold


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_any_integer_as_ccxt(ms: int) -> None:
    assert FAST(ms) == CCXT(ms)


@given(st.integers(min_value=0, max_value=YEAR_10000_MS + 10**9))
def test_millisecond_timestamps_as_ccxt(ms: int) -> None:
    assert FAST(ms) == CCXT(ms)
    assert FAST(str(ms)) == CCXT(str(ms))


@given(st.text(max_size=20) | st.from_regex(r"\A[0-9]{1,16}\n?\Z"))
def test_any_text_as_ccxt(text: str) -> None:
    assert FAST(text) == CCXT(text)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.booleans() | st.none())
def test_other_values_as_ccxt(value: Any) -> None:
    assert FAST(value) == CCXT(value)


@pytest.mark.parametrize(
    "value",
    [0, 999, "1755432123456", YEAR_10000_MS - 1, YEAR_10000_MS, MAX_MS, MAX_MS + 1, "12\n", "٣", " 12", ""],
)
def test_edges_as_ccxt(value: object) -> None:
    assert FAST(value) == CCXT(value)


def test_a_time_of_day_is_formatted_to_the_millisecond() -> None:
    assert FAST(1_755_432_123_456) == "2025-08-17T12:02:03.456Z"
    assert FAST("86399999") == "1970-01-01T23:59:59.999Z"


@pytest.mark.parametrize("venue", ["binanceusdm", "bybit", "okx"])
def test_each_venues_client_uses_it(venue: str) -> None:
    exchange = new_exchange(profile_for(venue), SourceTuning(), ExchangeGate(), None)
    assert exchange.iso8601(1_755_432_123_456) == "2025-08-17T12:02:03.456Z"
    assert type(exchange).iso8601 is not exchange_class(profile_for(venue).ccxt_class).iso8601
