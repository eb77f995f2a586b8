"""A clock that only moves when told to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(2025, 1, 6, 12, 0, tzinfo=UTC)
"""A fixed, aware start time for tests (a Monday, noon UTC)."""


class FakeClock:
    """``bot.ports.Clock`` for tests: starts at ``start`` and moves by ``advance``/``set``."""

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware)."""
        if moment.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware time")
        self._now = moment
