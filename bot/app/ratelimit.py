"""A per-user sliding-window command limit; the caller passes the time in."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``commands`` accepted per user within any ``window``."""

    commands: int = 10
    window: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.commands < 1 or self.window <= timedelta(0):
            raise ValueError(f"RateLimit needs commands >= 1 and a positive window: {self}")


class SlidingWindowLimiter:
    """Counts accepted commands per key over the last ``window``.

    A refused command is not counted, so someone who keeps hammering is let back in as
    soon as their oldest accepted command leaves the window.
    """

    # Forget idle users once this many are tracked, so memory stays bounded.
    PRUNE_AT = 10_000

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        self._seen: dict[Hashable, deque[datetime]] = {}

    @property
    def limit(self) -> RateLimit:
        """The limit being applied."""
        return self._limit

    def check(self, key: Hashable, now: datetime) -> timedelta | None:
        """Accept (and count) a command at ``now``, or say how long until one would be accepted."""
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self.PRUNE_AT:
                self._prune(now)
            times = self._seen[key] = deque()
        cutoff = now - self._limit.window
        while times and times[0] <= cutoff:
            times.popleft()
        if len(times) >= self._limit.commands:
            return times[0] + self._limit.window - now
        times.append(now)
        return None

    def _prune(self, now: datetime) -> None:
        cutoff = now - self._limit.window
        for key in [k for k, times in self._seen.items() if not times or times[-1] <= cutoff]:
            del self._seen[key]

    def __len__(self) -> int:
        """How many keys are tracked (for tests of the memory bound)."""
        return len(self._seen)
