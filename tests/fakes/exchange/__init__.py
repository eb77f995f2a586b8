"""A fake crypto-derivatives exchange for contract tests and the collector bench.

``FakeExchange`` serves Binance USD-M, Bybit v5 and OKX v5 public endpoints from a
deterministic ``FakeMarket`` on 127.0.0.1, records every request and injects faults
(latency, 429/418 with Retry-After, 5xx, timeouts, malformed JSON, missing symbols, zero
index, listings and delistings, a used-weight header). It enforces each venue's documented
request limits with that venue's refusals (``limits``): Binance's weight and per-endpoint
counts with 429, escalating 418 bans for a client that keeps calling after a 429; Bybit's
IP limit with its 403 ban; OKX's per-endpoint limits with 429 ``50011``. The real ccxt
client talks to it over HTTP through ``EXCHANGE_API_URL``. ``venues.venue_market`` derives
each venue's view of one scenario market (its names, contract sizes and its own book), so
one fake per venue serves the same market three ways.
"""

from tests.fakes.exchange.market import FakeInstrument, FakeMarket
from tests.fakes.exchange.server import FakeExchange, Fault, Recorded

__all__ = ["FakeExchange", "FakeInstrument", "FakeMarket", "Fault", "Recorded"]
