"""Several venues in one process: the short ones let a long fetch go first.

The venues' clients each run on a loop thread of their own, but they share the process's
interpreter lock. A venue with one request per symbol (Binance's open interest: 500 for 500
symbols) needs that lock for every answer it reads; a venue with a few bulk calls (Bybit,
OKX) has its answers in tens of milliseconds and then scores, diffs and stores 500 symbols,
CPU work that took the lock from the long fetch and stretched it by as much (bench/
bench_venues.py: the round together was ~1.4x the slowest venue alone).

So a short venue's fetch, once its own answers are in, waits for the long fetches in flight
to end before it returns (and its cycle goes on to score and store): the round then ends
with the long fetch's answers read at full speed and the short venues' work beside the
long one's, not inside its requests. The wait is bounded by ``hold_s``: a long venue that
is slow or stuck delays the others' storing by that much at most, one that fails releases
them at once. Its requests are never held, only what comes after them.

All of it runs on the caller's (bot's) loop; the clients' threads are not involved.

Off by default (``SourceTuning.yield_to_long_fetch``): measured interleaved on a two-core
machine shared with other work, it did not shorten the round beyond the noise, and it
makes the bulk venues store up to ``HOLD_S`` later. The measured work is CPU on one lock:
reordering it moves it, only a process per venue (or less CPU) removes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

logger = logging.getLogger(__name__)

HOLD_S = 2.0
"""How long a short venue's cycle waits at most for the long fetches (per cycle)."""


class FetchOrder:
    """Shared by the sources of one process; ``long_fetch`` around a long venue's fetch,
    ``after_long_fetches`` after a short venue's.

    Args:
        hold_s: the most a short venue waits for the long fetches in flight.
        clock: monotonic seconds (for the log of how long it waited).
    """

    def __init__(self, hold_s: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_s = hold_s
        self._clock = clock
        self._long = 0
        self._waiting: list[asyncio.Future[None]] = []

    @property
    def long_in_flight(self) -> int:
        """How many long fetches are under way."""
        return self._long

    @property
    def waiting(self) -> int:
        """How many short venues wait for them now."""
        return sum(1 for f in self._waiting if not f.done())

    @asynccontextmanager
    async def long_fetch(self) -> AsyncIterator[None]:
        """A long venue's fetch: the short ones' held until every long fetch ended (or failed)."""
        self._long += 1
        try:
            yield
        finally:
            self._long -= 1
            if self._long == 0:
                waiting, self._waiting = self._waiting, []
                for future in waiting:
                    if not future.done():
                        future.set_result(None)

    async def after_long_fetches(self, venue: str) -> float:
        """Wait until no long fetch is in flight, ``hold_s`` at most; the seconds waited."""
        if self._long == 0:
            return 0.0
        started = self._clock()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(future)
        try:
            done, _ = await asyncio.wait((future,), timeout=self.hold_s)
        finally:
            future.cancel()  # no-op when set; a timed-out one is dropped at the next release
        waited = self._clock() - started
        if not done:
            logger.info("%s: stored without waiting longer for a long fetch (%.1fs)", venue, waited)
        return waited
