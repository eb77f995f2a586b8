"""Pacing every request against a share of the venue's published limits.

ccxt's throttle spaces request starts by ``rateLimit`` ms per cost unit, whatever the
exchange allows: Binance's 500 openInterest calls take 25 s at its 50 ms, though they
weigh 500 of a 2,400-per-minute budget. ``VenueLimiter`` instead holds, per
``RateWindow`` of the profile, a weighted sliding window (``WindowLimiter``) sized at
``share`` of the published limit, and lets a request go as soon as its weight fits in
every window it falls under. Within the budget requests go at once (concurrency hides the
round trip); past it they wait for the oldest weight to leave the window.

The window is counted at our start of the request, the exchange counts its arrival: a
margin is added to each window so arrivals spread by a jittery network still fit, and the
share keeps the rest of the real limit as headroom (other clients on the same IP, a pause
that holds granted requests back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot.collector.profiles import RateWindow
from bot.collector.request_budget import Sleep, WindowLimiter

logger = logging.getLogger(__name__)

Charge = tuple[tuple[WindowLimiter, int], ...]
"""The windows one request falls under, each with the weight it costs there."""


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

    async def acquire(self, charge: Charge) -> None:
        """Wait until the request's weight fits in every window, and count it there."""
        async with self._lock:
            while (delay := max((limiter.delay_for(weight) for limiter, weight in charge), default=0.0)) > 0:
                await self._sleep(delay)
            for limiter, weight in charge:
                limiter.take(weight)

    def used(self) -> dict[str, int]:
        """Weight spent in each window's last ``window_s``, by window name (for logs and tests)."""
        return {window.name: limiter.used() for window, limiter in self._windows}
