"""What the exchange tells us back: exchange-wide pauses and the reported weight budget.

Requests get their slot from ``venue_limiter`` (a share of each published limit), or
from ccxt's throttle when no published limit covers them. Neither knows what the
exchange answers, so ``ExchangeGate`` adds:

- a pause of the whole exchange when it answers 429/418 (``Retry-After``), so no request
  leaves until the pause is over; then one request goes first (a probe) and the others
  follow only when it was not refused again: released all at once, the held requests
  would be a burst behind a second 429, and Binance bans an IP that keeps calling after
  a 429 (418, from 2 minutes up to 3 days);
- Binance's request-weight budget (read from exchangeInfo by ``weight_budget``): the used
  weight reported in the ``X-MBX-USED-WEIGHT-*`` header is compared with it; above a soft
  share each request is delayed a little more (serialised, so concurrency cannot burst
  past it), and above a hard share requests wait for the next window. While the current
  window has no reading yet (a new window, or none read so far), one request goes first
  and the others wait for its answer: a burst of concurrent requests must not leave
  before the exchange has said how much of the window other clients on the IP used.

``WindowLimiter`` is a weighted sliding window: it caps one endpoint family (Binance
``/futures/data/*``) and, through ``venue_limiter``, each published budget of a venue.
The gate is awaited *after* the request's slot is granted (by ``venue_limiter``, or by
ccxt's throttle for a request no published limit covers; see ``client``), i.e. right
before the HTTP request, so requests queued for a slot cannot slip through a pause.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from bot.collector.errors import ExchangeUnavailableError
from bot.collector.normalize import to_float
from bot.core.backoff import exponential_delay
from bot.core.collection import REASON_PAUSED

logger = logging.getLogger(__name__)

_CALL: ContextVar[object | None] = ContextVar("exchange_call", default=None)
"""The call (``ExchangeGate.start_call``) the current task's requests belong to."""

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Budget:
    """A request-weight budget: ``limit`` per ``window_s``, reported in header ``header``."""

    limit: int
    window_s: float
    header: str


_WINDOW_S = {"SECOND": 1.0, "MINUTE": 60.0, "HOUR": 3600.0, "DAY": 86400.0}

PROBE_PATIENCE_S = 5.0
"""How long requests wait for the probe's answer after a pause before one of them probes instead."""


def weight_budget(exchange_info: object, header_prefix: str) -> Budget | None:
    """The IP request-weight budget from Binance exchangeInfo; absent or junk → None.

    ``GET /fapi/v1/exchangeInfo`` → ``rateLimits``::

        [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
          "limit": 2400},
         {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
         {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}]

    The used weight comes back in ``{header_prefix}{intervalNum}{first letter}``, e.g.
    ``X-MBX-USED-WEIGHT-1M``.
    """
    info = exchange_info if isinstance(exchange_info, Mapping) else None
    limits = info.get("rateLimits") if info is not None else None
    if not isinstance(limits, Sequence) or isinstance(limits, str):
        return None
    for entry in limits:
        row = entry if isinstance(entry, Mapping) else None
        if row is None or row.get("rateLimitType") != "REQUEST_WEIGHT":
            continue
        unit = str(row.get("interval", "")).upper()
        num, limit = to_float(row.get("intervalNum")), to_float(row.get("limit"))
        if unit not in _WINDOW_S or num is None or limit is None or not (num > 0 and limit > 0):
            continue
        if not (math.isfinite(num) and math.isfinite(limit)):
            continue
        return Budget(int(limit), _WINDOW_S[unit] * num, f"{header_prefix}{int(num)}{unit[0]}")
    return None


@dataclass(frozen=True, slots=True)
class WeightPolicy:
    """When to slow down, as shares of the weight budget.

    Attributes:
        soft: above this share each request waits, growing linearly to ``max_delay_s``.
        hard: at or above this share, wait for the next window.
        max_delay_s: the per-request delay just below ``hard``.
        margin_s: slack added after a window boundary (clocks differ).
    """

    soft: float = 0.7
    hard: float = 0.9
    max_delay_s: float = 1.0
    margin_s: float = 0.5


class ExchangeGate:
    """Exchange-wide pause and request-weight governor (one per exchange instance).

    Args:
        policy: the weight thresholds.
        max_wait_s: a longer pause is not waited out: ``wait`` raises at once, so a long
            ban (418) fails the waiting calls fast instead of holding them for minutes.
        clock: monotonic seconds (pauses).
        wall: epoch seconds (weight windows are aligned to the clock, e.g. each minute).
        sleep: ``asyncio.sleep`` (injectable for tests).
    """

    def __init__(
        self,
        policy: WeightPolicy | None = None,
        *,
        max_wait_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.policy = policy or WeightPolicy()
        self.max_wait_s = max_wait_s
        self.budget: Budget | None = None
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self._paused_until = 0.0
        self._pauses = 0
        # After a pause, until a request is answered without a rate limit: one at a time.
        self._cautious = False
        self._probe: object | None = None
        self._probe_answered = asyncio.Event()
        self._scout: asyncio.Event | None = None
        self._used: int | None = None
        self._used_window = -1
        self._warned_window = -1
        self._lock = asyncio.Lock()

    # -- pauses ---------------------------------------------------------------------

    def pause(self, seconds: float, why: str, *, log: bool = True) -> None:
        """Stop every request of this exchange for ``seconds`` (extends, never shortens).

        ``log=False``: the caller has said why already (an IP ban is logged once).
        """
        until = self._clock() + max(0.0, seconds)
        self._cautious = True
        if until > self._paused_until:
            self._paused_until = until
            self._pauses += 1
            if log:
                logger.warning("exchange paused for %.1fs: %s", seconds, why)

    def paused_for(self) -> float:
        """Seconds left of the current pause (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def start_call(self) -> object:
        """Mark what the calling task sends next as one call; pass the token to ``answered``.

        Every call through the gate must be started and, whatever happens, answered: after
        a pause the first call to arrive is the probe and the others wait for its answer.
        """
        token = object()
        _CALL.set(token)
        return token

    def answered(self, call: object, *, rate_limited: bool) -> None:
        """``call`` got its answer (or failed).

        When it was the probe after a pause, the others go on: all of them if it was not
        rate limited, else (a new pause is in force) the next probe. Any answer also ends
        the wait for a weight reading (the caller records it right after, in the same step).
        """
        if self._scout is not None:
            self._scout.set()
            self._scout = None
        if self._probe is None or self._probe is not call:
            return
        self._probe = None
        if not rate_limited:
            self._cautious = False
        self._probe_answered.set()

    # -- weight ---------------------------------------------------------------------

    def observe_used_weight(self, used: int) -> None:
        """Record the exchange's own count of used weight in the current window."""
        if self.budget is None:
            return
        window = self._window_index()
        if window != self._used_window or self._used is None or used >= self._used:
            # Counts only grow within a window; an older, lower reading may arrive late.
            self._used, self._used_window = used, window
        if used >= self.budget.limit * self.policy.hard and self._warned_window != window:
            self._warned_window = window  # once per window, not once per response
            logger.warning(
                "request weight %d of %d used in the %.0fs window; waiting for the next window",
                used,
                self.budget.limit,
                self.budget.window_s,
            )

    def used_share(self) -> float | None:
        """Used weight / budget in the current window, or None when unknown."""
        if self.budget is None or self._used is None or self._used_window != self._window_index():
            return None
        return self._used / self.budget.limit

    def _window_index(self) -> int:
        window = self.budget.window_s if self.budget else 60.0
        return math.floor(self._wall() / window)

    def _seconds_to_next_window(self) -> float:
        window = self.budget.window_s if self.budget else 60.0
        return window - (self._wall() % window) + self.policy.margin_s

    # -- the gate -------------------------------------------------------------------

    async def wait(self) -> None:
        """Return when a request may leave: after any pause (and its probe), paced by weight.

        Raises:
            ExchangeUnavailableError: (``paused``) the pause is longer than ``max_wait_s``.
        """
        await self._wait_for_clearance()
        pauses = self._pauses
        await self._scout_new_window()
        await self._pace()
        if self._pauses != pauses:  # paused while this request was being paced
            await self._wait_for_clearance()

    async def _wait_for_clearance(self) -> None:
        while True:
            while (left := self.paused_for()) > 0:
                if left > self.max_wait_s:
                    raise ExchangeUnavailableError(
                        f"exchange paused for {left:.0f}s", kind=REASON_PAUSED, retry_after=left
                    )
                await self._sleep(left)
            if not self._cautious:
                return
            call = _CALL.get()
            # All requests of the probe call go (ccxt's load_markets sends several, some
            # from tasks of its own, which inherit the context).
            if call is None or self._probe is call:
                return
            if self._probe is None:
                self._probe = call
                self._probe_answered.clear()
                return
            try:
                await asyncio.wait_for(self._probe_answered.wait(), PROBE_PATIENCE_S)
            except TimeoutError:
                # The probe's answer is late, or its call awaits this very request (ccxt
                # shares one market load among callers): this request goes as the probe.
                self._probe = call
                self._probe_answered.clear()
                return

    async def _scout_new_window(self) -> None:
        """No reading in this window yet: the first request goes, the rest wait for its answer."""
        while self.budget is not None and self.used_share() is None:
            scout = self._scout
            if scout is None:
                self._scout = asyncio.Event()
                return
            try:
                await asyncio.wait_for(scout.wait(), PROBE_PATIENCE_S)
            except TimeoutError:
                if self._scout is scout:  # its answer is late: the next request scouts
                    self._scout = None

    async def _pace(self) -> None:
        share = self.used_share()
        if share is None or share < self.policy.soft:
            return
        async with self._lock:  # one slowed request at a time
            share = self.used_share()
            if share is None or share < self.policy.soft:
                return
            if share >= self.policy.hard:
                # The reading belongs to the old window: after this, unknown until the next header.
                await self._sleep(self._seconds_to_next_window())
                return
            spread = self.policy.hard - self.policy.soft
            await self._sleep(self.policy.max_delay_s * (share - self.policy.soft) / spread)


class Grant:
    """Weight counted in a ``WindowLimiter`` from moment ``at`` (moved later by ``settle``)."""

    __slots__ = ("at", "weight")

    def __init__(self, at: float, weight: int) -> None:
        self.at, self.weight = at, weight


class WindowLimiter:
    """At most ``max_requests`` weight in any ``window_s`` seconds (a sliding window).

    Each ``acquire`` counts its weight (1 by default: then it is a request count) from
    the moment it is granted; ``settle`` moves that moment to when the answer came, so
    the window is counted from a time no earlier than the exchange's arrival, however
    long the request took to leave. Waiters are served in arrival order.
    """

    def __init__(
        self,
        max_requests: int,
        window_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if max_requests < 1 or window_s <= 0:
            raise ValueError("WindowLimiter needs max_requests >= 1 and window_s > 0")
        self.max_requests, self.window_s = max_requests, window_s
        self._clock, self._sleep = clock, sleep
        self._grants: deque[Grant] = deque()
        self._used = 0
        self._lock = asyncio.Lock()

    def used(self) -> int:
        """Weight counted in the last ``window_s`` seconds."""
        self._expire(self._clock())
        return self._used

    async def acquire(self, weight: int = 1) -> Grant:
        """Wait until ``weight`` more fits in the window, and count it.

        A weight above the whole window waits for an empty window (else it never fits).
        """
        async with self._lock:
            while (delay := self.delay_for(weight)) > 0:
                await self._sleep(delay)
            return self.take(weight)

    def delay_for(self, weight: int) -> float:
        """Seconds until ``weight`` more fits (0: it fits now)."""
        now = self._clock()
        self._expire(now)
        if weight <= 0 or self._used + weight <= self.max_requests or not self._grants:
            return 0.0
        # Grants leave in order (see _expire): one leaves once all before it have.
        freed, leaves = 0, now
        for grant in self._grants:
            freed += grant.weight
            leaves = max(leaves, grant.at + self.window_s)
            if self._used - freed + weight <= self.max_requests:
                break
        return max(1e-6, leaves - now)

    def take(self, weight: int) -> Grant:
        """Count ``weight`` from now (call when ``delay_for`` says it fits)."""
        grant = Grant(self._clock(), max(0, weight))
        if grant.weight:
            self._grants.append(grant)
            self._used += grant.weight
        return grant

    def settle(self, grant: Grant) -> None:
        """The request of ``grant`` was answered: count its weight from now on."""
        grant.at = max(grant.at, self._clock())

    def _expire(self, now: float) -> None:
        # Oldest grant first; one settled late holds the younger ones back a little
        # (they are counted longer than needed, never shorter).
        while self._grants and now - self._grants[0].at >= self.window_s:
            self._used -= self._grants.popleft().weight


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, jitter: Callable[[], float]) -> float:
    """Seconds before retry number ``attempt`` (1-based): capped exponential, jittered.

    "Equal jitter": half the exponential step is kept, the other half is random, so
    retries from many symbols spread out but never retry instantly.

    Args:
        attempt: which retry this is (1 for the first).
        base_s: the first step.
        cap_s: the largest step.
        jitter: a random number in [0, 1).
    """
    step = exponential_delay(attempt, base=base_s, cap=cap_s)
    return step / 2 + step / 2 * jitter()
