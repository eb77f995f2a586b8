"""The footing check between a venue's OI history and its current OI (Bybit)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.collector.oi_footing import TOLERANCE, history_scale, scaled
from bot.core.collection import OiPoint


@pytest.mark.parametrize(
    ("current", "newest", "scale"),
    [
        (1_000.0, 2_000.0, 0.5),  # the history counts both sides
        (1_000.0, 1_000.0, 1.0),  # they agree
        (1_000.0, 1_000.0 / (1 + TOLERANCE), 1.0),  # OI grew by the tolerance in 5 minutes
        (1_000.0, 2_000.0 / (1 - TOLERANCE * 0.99), 0.5),
        (1_000.0, 1_400.0, None),  # 0.71: neither
        (1_000.0, 3_000.0, None),  # 1/3
        (1_000.0, 250.0, None),  # 4
        (0.0, 1_000.0, None),
        (1_000.0, 0.0, None),
        (None, 1_000.0, None),
        (1_000.0, None, None),
        (float("nan"), 1_000.0, None),
    ],
)
def test_history_scale(current: float | None, newest: float | None, scale: float | None) -> None:
    assert history_scale(current, newest) == scale


@given(st.floats(min_value=1e-6, max_value=1e12), st.floats(min_value=0.0, max_value=0.1))
def test_a_footing_with_small_moves_is_never_mistaken(level: float, move: float) -> None:
    assert history_scale(level * (1 + move), level) == 1.0
    assert history_scale(level * (1 - move), 2 * level) == 0.5


def test_scaled_halves_every_point_exactly() -> None:
    ts = datetime(2026, 12, 1, tzinfo=UTC)
    points = [OiPoint(ts, 3.0, 300.0), OiPoint(ts, 0.1, None)]
    assert scaled(points, 0.5) == [OiPoint(ts, 1.5, 150.0), OiPoint(ts, 0.05, None)]
    assert scaled(points, 1.0) == points
