"""A fake crypto-derivatives exchange for contract tests and the collector bench.

``FakeExchange`` serves Binance USD-M, Bybit v5 and OKX v5 public endpoints from a
deterministic ``FakeMarket`` on 127.0.0.1, records every request and injects faults
(latency, 429/418 with Retry-After, 5xx, timeouts, malformed JSON, missing symbols, zero
index, listings and delistings, a used-weight header). The real ccxt client talks to it
over HTTP through ``EXCHANGE_API_URL``.
"""

from tests.fakes.exchange.market import FakeInstrument, FakeMarket
from tests.fakes.exchange.server import FakeExchange, Fault, Recorded

__all__ = ["FakeExchange", "FakeInstrument", "FakeMarket", "Fault", "Recorded"]
