"""Pacing every request against a share of the venue's published limits.

ccxt's throttle spaces request starts by ``rateLimit`` ms per cost unit, whatever the
exchange allows: Binance's 500 openInterest calls take 25 s at its 50 ms, though they
weigh 500 of a 2,400-per-minute budget. ``VenueLimiter`` instead holds, per
``RateWindow`` of the profile, a weighted sliding window (``WindowLimiter``) sized at
``share`` of the published limit, and lets a request go as soon as its weight fits in
every window it falls under. Within the budget requests go at once (concurrency hides the
round trip); past it they wait for the oldest weight to leave the window.

The exchange counts a request when it arrives, which we never see: a request's weight is
counted from its grant until its answer, and from its answer on for a whole window (so
from no earlier than its arrival, however long it took to leave a busy event loop). A
small margin is added to each window for clock differences, and the share keeps the rest
of the real limit as headroom (other clients on the same IP).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot.collector.profiles import RateWindow
from bot.collector.request_budget import Grant, Sleep, WindowLimiter

logger = logging.getLogger(__name__)

Charge = tuple[tuple[WindowLimiter, int], ...]
"""The windows one request falls under, each with the weight it costs there."""

Grants = tuple[tuple[WindowLimiter, Grant], ...]
"""What one request was granted, to be settled when it is answered."""


class VenueLimiter:
    """A share of each published limit of one venue (one instance per exchange instance).

    Args:
        windows: the venue's published limits (``ExchangeProfile.rate_windows``).
        share: the part of each budget we may spend, in (0, 1].
        margin_s: added to each window (the exchange counts arrivals, we count starts).
        scale: multiplies every limit (1 but in a sped-up soak, see ``SourceTuning``).
        clock / sleep: monotonic seconds and ``asyncio.sleep`` (tests pass virtual ones).
    """

    def __init__(
        self,
        windows: tuple[RateWindow, ...],
        *,
        share: float = 0.5,
        margin_s: float = 0.5,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"the budget share must be in (0, 1], not {share}")
        self.share = share
        self._sleep = sleep
        self._windows = [
            (
                window,
                WindowLimiter(
                    max(1, int(window.limit * scale * share)),
                    window.window_s + margin_s,
                    clock=clock,
                    sleep=sleep,
                ),
            )
            for window in windows
        ]
        # One queue for the venue, first come first served: a request counts in all its
        # windows at the same moment, and a heavy one is not overtaken forever by light ones.
        self._lock = asyncio.Lock()

    def charge(self, path: str, params: Mapping[str, Any]) -> Charge:
        """What a request to ``path`` costs in each window it falls under (empty: none)."""
        out = []
        for window, limiter in self._windows:
            weight = window.weight_of(path, params)
            if weight is not None:
                out.append((limiter, weight))
        return tuple(out)

    async def acquire(self, charge: Charge) -> Grants:
        """Wait until the request's weight fits in every window, and count it there.

        Pass the result to ``settle`` when the request is answered (or failed).
        """
        async with self._lock:
            while (delay := max((limiter.delay_for(weight) for limiter, weight in charge), default=0.0)) > 0:
                await self._sleep(delay)
            return tuple((limiter, limiter.take(weight)) for limiter, weight in charge)

    @staticmethod
    def settle(grants: Grants) -> None:
        """The request is over: its weight counts from now (no earlier than its arrival)."""
        for limiter, grant in grants:
            limiter.settle(grant)

    def used(self) -> dict[str, int]:
        """Weight spent in each window's last ``window_s``, by window name (for logs and tests)."""
        return {window.name: limiter.used() for window, limiter in self._windows}
