"""``TrackSeries`` takes a read's in-order rows as whole columns (the first read's fast path):
the same history, outcomes and changes as adding every row on its own, in any order."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import Band, Bias
from bot.core.track import EpochMemo, TrackSeries

T0 = datetime(2026, 11, 1, tzinfo=UTC)

# Times on a coarse grid (collisions: re-reads of a time, with another value), in batches
# that are mostly runs in order (the fast path) with stragglers and overlaps (the plain one).
hours = st.integers(0, 80)
price = st.one_of(st.none(), st.floats(1.0, 200.0), st.sampled_from([0.0, -1.0, math.inf, math.nan]))
point_batch = st.one_of(
    st.lists(st.tuples(hours, price), max_size=12),
    st.builds(
        lambda lo, n, p: [(lo + k, p) for k in range(n)], hours, st.integers(0, 30), st.floats(1.0, 200.0)
    ),
)
reading = st.tuples(hours, st.sampled_from(list(Band)), st.sampled_from(list(Bias)))
reading_batch = st.one_of(
    st.lists(reading, max_size=12),
    st.builds(
        lambda lo, n, b: [(lo + k, b, Bias.LONG) for k in range(n)],
        hours,
        st.integers(0, 30),
        st.sampled_from(list(Band)),
    ),
)


def at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


def same(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def state(s: TrackSeries) -> tuple[object, ...]:
    """Everything a series holds, NaN made comparable."""
    nan_free = [[None if v != v else v for v in column] for column in (s.price, s.move)]
    return (list(s.ts), nan_free[0], list(s.r_ts), list(s.r_band), list(s.r_bias), nan_free[1], s.settled)


@settings(max_examples=150, deadline=None)
@given(batches=st.lists(st.tuples(point_batch, reading_batch), min_size=1, max_size=6))
def test_whole_batches_give_what_one_row_at_a_time_gives(
    batches: list[tuple[list[tuple[int, float | None]], list[tuple[int, Band, Bias]]]],
) -> None:
    fast, plain = TrackSeries("X"), TrackSeries("X")
    memo: EpochMemo = {}
    first_price: dict[int, float | None] = {}
    for points, readings in batches:
        fast.add_points([(at(h), p) for h, p in points], memo)
        fast.add_readings([(at(h), band, bias) for h, band, bias in readings], memo)
        for h, p in points:
            plain.add_points([(at(h), p)])
            first_price.setdefault(h, p)
        for h, band, bias in readings:
            plain.add_readings([(at(h), band, bias)])
        assert fast.take_changes() == plain.take_changes()
        assert state(fast) == state(plain)
    # A time read again keeps its first value, as documented.
    assert list(fast.ts) == [at(h).timestamp() for h in sorted(first_price)]
    kept = [first_price[h] for h in sorted(first_price)]
    expected = [p if p is not None and 0 < p < math.inf else math.nan for p in kept]
    assert all(same(a, b) for a, b in zip(fast.price, expected, strict=True))


def test_an_in_order_read_after_the_held_rows_is_appended_whole() -> None:
    s = TrackSeries("X")
    s.add_points([(at(h), 100.0 + h) for h in range(30)])
    s.add_readings([(at(h), Band.STRESSED, Bias.LONG) for h in range(3)])
    s.settle()
    before = s.settled
    # The next read re-reads the last held hour (the overlap), then goes on in order.
    s.add_points([(at(h), 1.0) for h in range(29, 60)])
    s.add_readings([(at(h), Band.LEAN, Bias.SHORT) for h in range(2, 40)])
    assert list(s.ts) == [at(h).timestamp() for h in range(60)]
    assert s.price[29] == 129.0  # the held value kept
    assert list(s.r_ts) == [at(h).timestamp() for h in range(40)]
    assert s.r_band[2] == Band.STRESSED.rank  # the held reading kept
    assert s.settled == before  # nothing before the new rows reopened
