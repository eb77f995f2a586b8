"""A circuit breaker for one exchange: stop calling it after repeated failures.

Closed: calls go through; each exchange-level failure (a call still unavailable after its
retries) counts, each success resets the count. ``threshold`` consecutive failures open
it: calls are refused (the cycle fails fast) until ``cool_off_s`` has passed. Then one
trial is let through (half-open): a success closes it, a failure opens it again. Every
transition is logged once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

logger = logging.getLogger(__name__)


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Counts consecutive exchange failures and refuses calls while open.

    Args:
        name: names the exchange in log lines.
        threshold: consecutive failures that open the circuit.
        cool_off_s: how long it stays open before a trial call.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        cool_off_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or cool_off_s < 0:
            raise ValueError("CircuitBreaker needs threshold >= 1 and cool_off_s >= 0")
        self.name, self.threshold, self.cool_off_s = name, threshold, cool_off_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self.cool_off_s:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def retry_in(self) -> float:
        """Seconds until a trial call is allowed (0 unless open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cool_off_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may be made now (closed, or half-open for a trial)."""
        return self.state is not CircuitState.OPEN

    def record_success(self) -> None:
        if self._opened_at is not None:
            logger.warning("%s circuit closed: the exchange answers again", self.name)
        self._failures = 0
        self._opened_at = None

    def record_failure(self, why: str) -> None:
        self._failures += 1
        if self.state is CircuitState.HALF_OPEN:
            self._opened_at = self._clock()
            logger.error(
                "%s circuit re-opened for %.0fs: trial call failed (%s)", self.name, self.cool_off_s, why
            )
        elif self._opened_at is None and self._failures >= self.threshold:
            self._opened_at = self._clock()
            logger.error(
                "%s circuit opened for %.0fs after %d consecutive failures (last: %s)",
                self.name,
                self.cool_off_s,
                self._failures,
                why,
            )
