"""The one back-off formula: doubling from the base, held at the cap, never overflowing."""

from __future__ import annotations

import math

from bot.core.backoff import exponential_delay


def test_grows_by_the_factor_from_the_base() -> None:
    assert [exponential_delay(n, base=2.0) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert [exponential_delay(n, base=10.0, factor=1.5) for n in (1, 2, 3)] == [10.0, 15.0, 22.5]


def test_stops_at_the_cap_even_after_very_many_failures() -> None:
    assert [exponential_delay(n, base=0.5, cap=3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert exponential_delay(10_000, base=1.0, factor=10.0, cap=3600.0) == 3600.0
    assert math.isfinite(exponential_delay(10_000, base=1.0, factor=10.0, cap=1e300))
