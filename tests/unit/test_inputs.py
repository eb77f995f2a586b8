"""Snapshot (exchange units) → ScoreInputs (percent), with junk prices and intervals."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.inputs import basis_pct, funding_pct, inputs_from_snapshot
from bot.core.market import MarketSnapshot
from bot.core.oi_deltas import OiChanges
from bot.core.scoring import score

TS = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SNAP = MarketSnapshot(
    exchange="replay",
    symbol="LABUSDT",
    ts=TS,
    oi_contracts=1000.0,
    oi_usd=790.0,
    mark_price=100.47,
    index_price=100.0,
    last_price=100.5,
    funding_rate=0.00067,
    funding_interval_h=8.0,
    next_funding_time=datetime(2026, 11, 20, 16, 0, tzinfo=UTC),
    volume_24h_usd=1e6,
)
OI = OiChanges(h1_pct=0.79, h4_pct=1.2, h24_pct=2.5)


def test_units_become_percent() -> None:
    inputs = inputs_from_snapshot(SNAP, OI)
    assert inputs.funding_pct == pytest.approx(0.067)
    assert inputs.basis_pct == pytest.approx(0.47)
    assert inputs.funding_interval_h == 8.0
    assert (inputs.oi_1h_pct, inputs.oi_4h_pct, inputs.oi_24h_pct) == (0.79, 1.2, 2.5)
    assert not score(inputs).partial


@pytest.mark.parametrize(
    ("mark", "index", "expected"),
    [
        (101.0, 100.0, 1.0),
        (99.0, 100.0, -1.0),
        (100.0, 100.0, 0.0),
        (100.0, None, None),
        (100.0, 0.0, None),
        (100.0, -1.0, None),
        (100.0, math.nan, None),
        (100.0, math.inf, None),
        (None, 100.0, None),
        (0.0, 100.0, None),
        (math.nan, 100.0, None),
    ],
)
def test_basis(mark: float | None, index: float | None, expected: float | None) -> None:
    got = basis_pct(mark, index)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


@pytest.mark.parametrize(("rate", "expected"), [(0.0001, 0.01), (-0.00565, -0.565), (0.0, 0.0)])
def test_funding_fraction_to_percent(rate: float, expected: float) -> None:
    assert funding_pct(rate) == pytest.approx(expected)


@pytest.mark.parametrize("rate", [None, math.nan, math.inf])
def test_junk_funding_is_missing(rate: float | None) -> None:
    assert funding_pct(rate) is None


def test_a_zero_index_makes_the_score_partial_not_infinite() -> None:
    inputs = inputs_from_snapshot(dataclasses.replace(SNAP, index_price=0.0), OI)
    assert inputs.basis_pct is None
    result = score(inputs)
    assert result.partial
    assert 0 <= result.score <= 100


@pytest.mark.parametrize("interval", [None, math.nan, 0.0, -8.0])
def test_a_bad_interval_is_left_to_the_scoring_core(interval: float | None) -> None:
    inputs = inputs_from_snapshot(dataclasses.replace(SNAP, funding_interval_h=interval), OI)
    result = score(inputs)
    assert result.partial
    assert result.components.funding_8h_pct is None


def test_the_interval_normalises_funding() -> None:
    # +0.005 % every 4h is the baseline; every 8h it is half of it.
    four = score(
        inputs_from_snapshot(dataclasses.replace(SNAP, funding_rate=0.00005, funding_interval_h=4), OI)
    )
    assert four.components.funding_8h_pct == pytest.approx(0.01)
    one = score(
        inputs_from_snapshot(dataclasses.replace(SNAP, funding_rate=0.0001, funding_interval_h=1), OI)
    )
    assert one.components.funding_8h_pct == pytest.approx(0.08)


def test_missing_oi_horizons_pass_through_as_missing() -> None:
    inputs = inputs_from_snapshot(SNAP, OiChanges(None, None, 2.5))
    assert (inputs.oi_1h_pct, inputs.oi_4h_pct, inputs.oi_24h_pct) == (None, None, 2.5)
    assert score(inputs).partial


_any_number = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e-300, max_value=1e-300),
    st.sampled_from([0, 1, -1, 100, 5e-324, 1e308, -0.0]),
)


@given(_any_number, _any_number, _any_number)
def test_snapshot_conversion_is_bit_identical_to_the_plain_helpers(
    rate: float | None, mark: float | None, index: float | None
) -> None:
    # inputs_from_snapshot decides finite floats inline: its values must be those of
    # funding_pct and basis_pct, bit for bit, for any number, junk or int.
    snap = dataclasses.replace(SNAP, funding_rate=rate, mark_price=mark, index_price=index)
    inputs = inputs_from_snapshot(snap, OI)
    assert repr(inputs.funding_pct) == repr(funding_pct(rate))
    assert repr(inputs.basis_pct) == repr(basis_pct(mark, index))
