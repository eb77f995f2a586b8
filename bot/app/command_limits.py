"""A per-user token-bucket command limit; the caller passes the time in.

Each user has a bucket of ``burst`` tokens that refills by one every ``refill``. A command
takes a token; with none left it is refused, and the refusal takes nothing, so someone
retrying every few seconds gets through as soon as the next token is there.

The bucket is kept as one time per user (the generic cell rate algorithm): ``due`` is when
the bucket would be full again. A command at ``now`` is accepted when no more than
``burst - 1`` refills are still owed, i.e. ``due - now <= (burst - 1) * refill``; accepting
moves ``due`` one refill later. Pure ``timedelta`` arithmetic (whole microseconds), so a
refused attempt can never shift the next acceptance by a rounding error.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Up to ``burst`` commands at once per user, then one more every ``refill``.

    In any span of time ``t`` a user gets at most ``burst + t / refill`` commands accepted.
    """

    burst: int = 20
    refill: timedelta = timedelta(seconds=3)

    def __post_init__(self) -> None:
        if self.burst < 1 or self.refill <= timedelta(0):
            raise ValueError(f"RateLimit needs burst >= 1 and a positive refill: {self}")

    def describe(self) -> str:
        """``up to 20 commands at once, then one every 3 seconds``: for replies and docs."""
        return f"up to {self.burst} commands at once, then one every {self.refill.total_seconds():g} seconds"


class TokenBucketLimiter:
    """Applies a ``RateLimit`` per key (a platform and user id)."""

    # Forget users whose bucket is full again once this many are tracked, so memory stays
    # bounded; a forgotten user is indistinguishable from a full bucket.
    PRUNE_AT = 10_000

    def __init__(self, limit: RateLimit) -> None:
        self._limit = limit
        # How far ahead of "due" a command may still be accepted: the burst's other tokens.
        self._slack = (limit.burst - 1) * limit.refill
        self._due: dict[Hashable, datetime] = {}

    @property
    def limit(self) -> RateLimit:
        """The limit being applied."""
        return self._limit

    def check(self, key: Hashable, now: datetime) -> timedelta | None:
        """Accept a command at ``now`` (taking a token), or say how long until one would be accepted.

        A refusal changes nothing, so asking again never pushes the next acceptance later.
        """
        due = self._due.get(key)
        if due is None or due < now:
            # A full bucket (or one that filled up meanwhile): the refill does not accumulate.
            due = now
        wait = due - self._slack - now
        if wait > timedelta(0):
            return wait
        if key not in self._due and len(self._due) >= self.PRUNE_AT:
            self._prune(now)
        self._due[key] = due + self._limit.refill
        return None

    def _prune(self, now: datetime) -> None:
        for key in [k for k, due in self._due.items() if due <= now]:
            del self._due[key]

    def __len__(self) -> int:
        """How many keys are tracked (for tests of the memory bound)."""
        return len(self._due)
