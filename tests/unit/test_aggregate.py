"""One asset summed over venues: known numbers, missing venues, and one venue alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.aggregate import AGGREGATE_EXCHANGE, LoneStretch, VenuePart, combine, lone_stretch
from bot.core.inputs import basis_pct, inputs_from_snapshot
from bot.core.market import MarketSnapshot
from bot.core.models import Band
from bot.core.oi_deltas import OiChanges

TS = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def snap(
    venue: str, symbol: str, oi: float | None, mark: float, index: float, rate: float, interval: float
) -> MarketSnapshot:
    return MarketSnapshot(
        exchange=venue,
        symbol=symbol,
        ts=TS,
        oi_contracts=oi,
        oi_usd=None if oi is None else oi * mark,
        mark_price=mark,
        index_price=index,
        last_price=mark,
        funding_rate=rate,
        funding_interval_h=interval,
        next_funding_time=TS + timedelta(hours=interval / 2),
        volume_24h_usd=1e6,
    )


def shib(okx_oi: float | None = 1.2e12) -> list[VenuePart]:
    return [
        # Binance counts 1000SHIB units at a price per 1,000 SHIB, 8 h funding.
        VenuePart(
            "binanceusdm", 1e3, snap("binanceusdm", "1000SHIBUSDT", 2e9, 0.0125, 0.0125 / 1.001, 0.0001, 8)
        ),
        # Bybit likewise (SHIB1000), 4 h funding: 0.02 % per 4 h is 0.04 % per 8 h.
        VenuePart("bybit", 1e3, snap("bybit", "SHIB1000USDT", 1e9, 0.01251, 0.01251 / 1.002, 0.0002, 4)),
        # OKX in SHIB (contract value applied), 6 h funding: 0.005 % per 6 h.
        VenuePart(
            "okx", 1.0, snap("okx", "SHIB-USDT-SWAP", okx_oi, 0.0000125, 0.0000125 / 0.9995, 0.00005, 6)
        ),
    ]


def test_three_venues_with_known_numbers() -> None:
    agg = combine("SHIB", shib(), TS)
    s = agg.snapshot
    usd = (2e9 * 0.0125, 1e9 * 0.01251, 1.2e12 * 0.0000125)  # 25.0 M, 12.51 M, 15.0 M
    total = sum(usd)
    funding_8h = (0.01, 0.04, 0.005 * 8 / 6)
    basis = (0.1, 0.2, -0.05)
    assert (s.exchange, s.symbol, s.ts) == (AGGREGATE_EXCHANGE, "SHIB", TS)
    assert s.oi_contracts == pytest.approx(2e12 + 1e12 + 1.2e12, rel=1e-12)
    assert s.oi_usd == pytest.approx(total, rel=1e-12)
    assert s.funding_interval_h == 8.0
    assert s.funding_rate * 100 == pytest.approx(
        sum(f * w for f, w in zip(funding_8h, usd, strict=True)) / total, rel=1e-9
    )
    assert basis_pct(s.mark_price, s.index_price) == pytest.approx(
        sum(b * w for b, w in zip(basis, usd, strict=True)) / total, rel=1e-9
    )
    per_unit = (0.0125 / 1e3, 0.01251 / 1e3, 0.0000125)
    assert s.mark_price == pytest.approx(
        sum(p * w for p, w in zip(per_unit, usd, strict=True)) / total, rel=1e-12
    )
    assert [v.oi_share for v in agg.venues] == pytest.approx([w / total for w in usd], rel=1e-12)
    assert [v.symbol for v in agg.venues] == ["1000SHIBUSDT", "SHIB1000USDT", "SHIB-USDT-SWAP"]
    assert agg.funding_spread_pct == pytest.approx(0.04 - 0.005 * 8 / 6, rel=1e-9)
    assert agg.basis_spread_pct == pytest.approx(0.2 - -0.05, rel=1e-6)
    assert agg.complete
    assert s.next_funding_time == TS + timedelta(hours=2)
    assert s.volume_24h_usd == 3e6


def test_the_scoring_core_reads_the_aggregate_on_an_8h_footing() -> None:
    s = combine("SHIB", shib(), TS).snapshot
    inputs = inputs_from_snapshot(s, OiChanges(1.0, 2.0, 3.0))
    assert inputs.funding_interval_h == 8.0
    assert inputs.funding_pct == pytest.approx(s.funding_rate * 100)
    assert inputs.basis_pct == pytest.approx(basis_pct(s.mark_price, s.index_price))


def test_a_venue_without_open_interest_leaves_the_sum_out_but_not_funding() -> None:
    agg = combine("SHIB", shib(okx_oi=None), TS)
    assert not agg.complete
    assert agg.snapshot.oi_contracts is None and agg.snapshot.oi_usd is None
    # Funding and basis are weighted over the two venues that have a weight.
    usd = (25e6, 12.51e6)
    assert agg.snapshot.funding_rate * 100 == pytest.approx((0.01 * usd[0] + 0.04 * usd[1]) / sum(usd))
    assert agg.venues[2].oi_share is None
    assert agg.venues[2].funding_8h_pct == pytest.approx(0.005 * 8 / 6)
    assert agg.missing == ("okx",)  # the card names it rather than summing fewer venues
    assert combine("SHIB", shib(), TS).missing == ()


def test_no_venue_gives_an_empty_incomplete_aggregate() -> None:
    agg = combine("SHIB", [], TS)
    assert not agg.complete and agg.snapshot.oi_contracts is None and agg.snapshot.funding_rate is None
    assert agg.funding_spread_pct is None and agg.venues == ()


positive = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)


@given(
    oi=positive,
    mark=positive,
    premium=st.floats(min_value=-0.05, max_value=0.05),
    rate=st.floats(min_value=-0.01, max_value=0.01),
    interval=st.sampled_from([1.0, 2.0, 4.0, 6.0, 8.0]),
    units=st.sampled_from([1.0, 1e3, 1e6]),
)
def test_one_venue_alone_is_its_own_aggregate(
    oi: float, mark: float, premium: float, rate: float, interval: float, units: float
) -> None:
    s = snap("bybit", "XUSDT", oi, mark, mark / (1 + premium), rate, interval)
    agg = combine("X", [VenuePart("bybit", units, s)], TS)
    assert agg.complete
    assert agg.snapshot.oi_contracts == pytest.approx(oi * units, rel=1e-12)
    assert agg.snapshot.oi_usd == pytest.approx(s.oi_usd, rel=1e-12)
    assert agg.snapshot.funding_rate == pytest.approx(rate * 8 / interval, rel=1e-9, abs=1e-15)
    expected_basis = basis_pct(s.mark_price, s.index_price)
    assert basis_pct(agg.snapshot.mark_price, agg.snapshot.index_price) == pytest.approx(
        expected_basis, rel=1e-6, abs=1e-9
    )
    assert agg.venues[0].oi_share == 1.0
    assert agg.funding_spread_pct is None


def test_one_venue_alone_stretched_is_named_with_its_share() -> None:
    found = lone_stretch(
        [("binanceusdm", Band.LEAN, 0.5), ("bybit", Band.STRETCHED, 0.38), ("okx", Band.NEUTRAL, 0.12)]
    )
    assert found == LoneStretch("bybit", Band.STRETCHED, 0.38)


@pytest.mark.parametrize(
    "bands",
    [
        [("bybit", Band.STRESSED, 1.0)],  # one venue only: nothing to contrast
        [("binanceusdm", Band.STRETCHED, 0.6), ("bybit", Band.STRESSED, 0.4)],  # two stretched
        [("binanceusdm", Band.LEAN, 0.6), ("bybit", Band.NEUTRAL, 0.4)],  # none
    ],
)
def test_no_lone_stretch_otherwise(bands: list[tuple[str, Band, float | None]]) -> None:
    assert lone_stretch(bands) is None


venue_books = st.lists(
    st.tuples(
        positive,  # OI in venue base units
        st.floats(min_value=1e-3, max_value=1e5),  # mark per canonical unit
        st.floats(min_value=-0.02, max_value=0.02),  # premium
        st.floats(min_value=-0.003, max_value=0.003),  # funding per interval
        st.sampled_from([1.0, 4.0, 8.0]),  # interval
        st.sampled_from([1.0, 1e3]),  # units
    ),
    min_size=1,
    max_size=4,
)


def _parts(books: list[tuple[float, float, float, float, float, float]]) -> list[VenuePart]:
    return [
        VenuePart(
            f"v{i}",
            units,
            snap(f"v{i}", f"S{i}", oi, mark * units, mark * units / (1 + prem), rate, interval),
        )
        for i, (oi, mark, prem, rate, interval, units) in enumerate(books)
    ]


@given(venue_books)
def test_shares_sum_to_one_and_each_is_its_usd_oi_over_the_total(
    books: list[tuple[float, float, float, float, float, float]],
) -> None:
    parts = _parts(books)
    agg = combine("X", parts, TS)
    shares = [v.oi_share for v in agg.venues]
    assert all(s is not None and 0 < s <= 1 for s in shares)
    assert sum(s for s in shares if s is not None) == pytest.approx(1.0, rel=1e-9)
    total = sum(p.snapshot.oi_usd for p in parts if p.snapshot.oi_usd is not None)
    assert agg.snapshot.oi_usd == pytest.approx(total, rel=1e-12)
    # Funding and basis lie within the venues' own range: a weighted mean, nothing else.
    funding = [v.funding_8h_pct for v in agg.venues if v.funding_8h_pct is not None]
    assert min(funding) - 1e-9 <= agg.snapshot.funding_rate * 100 <= max(funding) + 1e-9


@given(venue_books, st.randoms())
def test_the_aggregate_does_not_depend_on_the_venues_order(
    books: list[tuple[float, float, float, float, float, float]], rnd: object
) -> None:
    parts = _parts(books)
    shuffled = list(parts)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    a, b = combine("X", parts, TS), combine("X", shuffled, TS)
    for field in ("oi_contracts", "oi_usd", "mark_price", "index_price", "funding_rate", "volume_24h_usd"):
        assert getattr(b.snapshot, field) == pytest.approx(getattr(a.snapshot, field), rel=1e-9), field
    assert {v.venue: v.oi_share for v in b.venues} == pytest.approx({v.venue: v.oi_share for v in a.venues})
    assert b.funding_spread_pct == a.funding_spread_pct and b.basis_spread_pct == a.basis_spread_pct
