"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from bot.core.models import ScoreInputs

# Realistic ranges in percent; the scoring core must also survive the junk below.
oi_change = st.floats(min_value=-90.0, max_value=500.0, allow_nan=False)
funding = st.floats(min_value=-3.0, max_value=3.0, allow_nan=False)
basis = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)
interval = st.sampled_from([1.0, 2.0, 4.0, 8.0])

junk_float = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(float("inf")),
    st.just(float("-inf")),
    st.floats(allow_nan=True, allow_infinity=True),
)


def maybe(strategy: st.SearchStrategy[float]) -> st.SearchStrategy[float | None]:
    """A value from ``strategy`` or missing."""
    return st.one_of(st.none(), strategy)


complete_inputs = st.builds(
    ScoreInputs,
    oi_1h_pct=oi_change,
    oi_4h_pct=oi_change,
    oi_24h_pct=oi_change,
    funding_pct=funding,
    funding_interval_h=interval,
    basis_pct=basis,
)

any_inputs = st.builds(
    ScoreInputs,
    oi_1h_pct=st.one_of(maybe(oi_change), junk_float),
    oi_4h_pct=st.one_of(maybe(oi_change), junk_float),
    oi_24h_pct=st.one_of(maybe(oi_change), junk_float),
    funding_pct=st.one_of(maybe(funding), junk_float),
    funding_interval_h=st.one_of(maybe(interval), junk_float, st.just(0.0), st.just(-8.0)),
    basis_pct=st.one_of(maybe(basis), junk_float),
)
