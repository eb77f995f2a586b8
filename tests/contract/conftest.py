"""Fixtures for contract tests: the fake exchange on 127.0.0.1 and sources pointed at it.

The real ccxt async client talks HTTP to ``FakeExchange`` through ``EXCHANGE_API_URL``;
nothing here reaches the internet or patches ccxt. Times are shrunk (timeouts, backoff,
breaker cool-off, ccxt's spacing) so the whole set runs in seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from bot.collector.ccxt_source import CcxtSource, SourceTuning
from bot.collector.request_budget import WeightPolicy
from tests.fakes.exchange import FakeExchange

FAST = SourceTuning(
    timeout_s=0.5,
    max_attempts=3,
    backoff_base_s=0.02,
    backoff_cap_s=0.1,
    default_pause_s=0.5,
    max_pause_wait_s=5.0,
    breaker_threshold=3,
    breaker_cool_off_s=0.5,
    rate_limit_ms=2,
    weight=WeightPolicy(soft=0.7, hard=0.9, max_delay_s=0.2, margin_s=0.05),
)
"""Production behaviour with test-sized times."""

SourceFactory = Callable[..., CcxtSource]


@pytest.fixture
async def fake() -> AsyncIterator[FakeExchange]:
    exchange = FakeExchange()
    await exchange.start()
    yield exchange
    await exchange.stop()


@pytest.fixture
async def make_source(fake: FakeExchange) -> AsyncIterator[SourceFactory]:
    """Build ``CcxtSource``s against the fake; every one is closed after the test."""
    made: list[CcxtSource] = []

    def build(exchange: str = "binanceusdm", **options: Any) -> CcxtSource:
        options.setdefault("tuning", FAST)
        options.setdefault("jitter", lambda: 0.5)
        source = CcxtSource(exchange, api_url=fake.url, **options)
        made.append(source)
        return source

    yield build
    for source in made:
        await source.close()
