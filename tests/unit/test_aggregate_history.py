"""An asset's summed OI history from its venues' points on a grid of the collection interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.core.aggregate_history import summed_history
from bot.core.collection import OiPoint

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)


def test_points_in_a_slot_every_venue_reached_are_summed_in_canonical_units() -> None:
    binance = [(T0 + timedelta(seconds=3), 2e9), (T0 + STEP + timedelta(seconds=2), 2.2e9)]  # 1000SHIB
    okx = [
        (T0 + timedelta(seconds=40), 1.0e12),
        (T0 + timedelta(seconds=50), 1.1e12),  # the newer of a slot wins
        (T0 + 2 * STEP, 9e12),  # a slot Binance has no point in: left out
    ]
    assert summed_history([(1e3, binance), (1.0, okx)], STEP) == [
        OiPoint(T0 + timedelta(seconds=50), 2e12 + 1.1e12, None),
    ]


def test_nothing_from_no_venue_or_no_step() -> None:
    assert summed_history([], STEP) == []
    assert summed_history([(1.0, [(T0, 1.0)])], timedelta(0)) == []


slots = st.lists(st.integers(0, 300), unique=True, max_size=20)
values = st.floats(1.0, 1e12, allow_nan=False)


@given(slots, st.data())
def test_one_venue_alone_is_its_own_history(picked: list[int], data: st.DataObject) -> None:
    points = sorted(
        (T0 + n * STEP + timedelta(seconds=data.draw(st.integers(0, 299))), data.draw(values)) for n in picked
    )
    assert summed_history([(1.0, points)], STEP) == [OiPoint(ts, oi, None) for ts, oi in points]


@given(st.lists(st.tuples(st.sampled_from([1.0, 1e3, 1e6]), slots), min_size=1, max_size=4), st.randoms())
def test_the_sum_does_not_depend_on_the_venues_order(
    venues: list[tuple[float, list[int]]], rnd: object
) -> None:
    members = [(units, [(T0 + n * STEP, float(n + 1)) for n in picked]) for units, picked in venues]
    shuffled = list(members)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    forward, other = summed_history(members, STEP), summed_history(shuffled, STEP)
    assert [p.ts for p in forward] == [p.ts for p in other]
    for a, b in zip(forward, other, strict=True):
        assert abs(a.oi_contracts - b.oi_contracts) <= 1e-9 * a.oi_contracts
    # Only slots every venue reached: each sum is every venue's point there, in units.
    common = set.intersection(*(set(picked) for _, picked in venues))
    assert [p.ts for p in forward] == [T0 + n * STEP for n in sorted(common)]
