"""Canonical assets across venues: names as the venues list them, and the price check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.instruments import PRICE_TOLERANCE, Listing, build, canonical


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        # Binance USD-M baseAsset values.
        ("BTC", ("BTC", 1.0)),
        ("1000SHIB", ("SHIB", 1e3)),
        ("1000PEPE", ("PEPE", 1e3)),
        ("1000000MOG", ("MOG", 1e6)),
        ("1MBABYDOGE", ("BABYDOGE", 1e6)),
        ("1000SATS", ("SATS", 1e3)),
        ("1INCH", ("1INCH", 1.0)),  # a name, not 1 × INCH
        # Bybit linear baseCoin values: multipliers before or after the name.
        ("SHIB1000", ("SHIB", 1e3)),
        ("10000LADYS", ("LADYS", 1e4)),
        ("C98", ("C98", 1.0)),
        ("BANANAS31", ("BANANAS31", 1.0)),
        # OKX: the contract value is applied to OI already; the base is the plain asset.
        ("SHIB", ("SHIB", 1.0)),
        ("pepe", ("PEPE", 1.0)),
        # A multiplier must leave a name of two characters or more.
        ("1000X", ("1000X", 1.0)),
        ("A1000", ("A1000", 1.0)),
    ],
)
def test_venue_base_names_read_as_asset_and_units(base: str, expected: tuple[str, float]) -> None:
    assert canonical(base) == expected


@pytest.mark.parametrize("base", ["", "BTC-USDT", "BTC/USDT", "ÄBC", "X" * 31])
def test_names_no_venue_lists_are_refused(base: str) -> None:
    assert canonical(base) is None


names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=12)
multipliers = st.sampled_from([("1000", 1e3), ("10000", 1e4), ("100000", 1e5), ("1000000", 1e6), ("1M", 1e6)])


@given(names, multipliers)
def test_a_multiplier_before_a_name_is_read_off(name: str, multiplier: tuple[str, float]) -> None:
    text, units = multiplier
    assert canonical(text + name) == (name, units)
    assert canonical(name) == (name, 1.0)


@given(names, st.sampled_from([("1000", 1e3), ("10000", 1e4), ("1000000", 1e6)]))
def test_a_multiplier_after_a_name_is_read_off(name: str, multiplier: tuple[str, float]) -> None:
    text, units = multiplier
    assert canonical(name + text) == (name, units)


def shib() -> list[Listing]:
    return [
        Listing("binanceusdm", "1000SHIBUSDT", "1000SHIB"),
        Listing("bybit", "SHIB1000USDT", "SHIB1000"),
        Listing("okx", "SHIB-USDT-SWAP", "SHIB"),
    ]


def test_three_venues_with_agreeing_prices_form_one_asset() -> None:
    prices = {
        ("binanceusdm", "1000SHIBUSDT"): 0.01230,
        ("bybit", "SHIB1000USDT"): 0.01231,
        ("okx", "SHIB-USDT-SWAP"): 0.00001229,
    }
    mapped = build(shib(), prices)
    assert [(m.listing.venue, m.units) for m in mapped.assets["SHIB"]] == [
        ("binanceusdm", 1e3),
        ("bybit", 1e3),
        ("okx", 1.0),
    ]
    assert mapped.venue_only == ()
    found = mapped.asset_of("bybit", "SHIB1000USDT")
    assert found is not None and found.asset == "SHIB"
    assert mapped.asset_of("bybit", "BTCUSDT") is None


def test_one_stray_price_of_three_leaves_that_venue_out() -> None:
    # OKX's "SHIB" here is another token: its price per unit is a thousand times off.
    prices = {
        ("binanceusdm", "1000SHIBUSDT"): 0.01230,
        ("bybit", "SHIB1000USDT"): 0.01231,
        ("okx", "SHIB-USDT-SWAP"): 0.0123,
    }
    mapped = build(shib(), prices)
    assert [m.listing.venue for m in mapped.assets["SHIB"]] == ["binanceusdm", "bybit"]
    [out] = mapped.venue_only
    assert out.listing.venue == "okx" and "median" in out.reason


def test_two_venues_that_disagree_both_stay_venue_only() -> None:
    listings = [Listing("binanceusdm", "NEIROUSDT", "NEIRO"), Listing("bybit", "NEIROUSDT", "NEIRO")]
    prices = {("binanceusdm", "NEIROUSDT"): 0.0005, ("bybit", "NEIROUSDT"): 0.05}
    mapped = build(listings, prices)
    assert "NEIRO" not in mapped.assets
    assert {o.listing.venue for o in mapped.venue_only} == {"binanceusdm", "bybit"}


def test_prices_within_the_tolerance_agree_and_beyond_it_do_not() -> None:
    listings = [Listing("binanceusdm", "XUSDT", "XX"), Listing("bybit", "XUSDT", "XX")]
    # Two venues are each half their gap from the median (their midpoint): they agree while
    # the higher price is at most (1 + T) / (1 - T) times the lower one.
    limit = (1 + PRICE_TOLERANCE) / (1 - PRICE_TOLERANCE)
    near, far = limit * 0.999, limit * 1.001
    assert len(build(listings, {("binanceusdm", "XUSDT"): 1.0, ("bybit", "XUSDT"): near}).assets["XX"]) == 2
    assert "XX" not in build(listings, {("binanceusdm", "XUSDT"): 1.0, ("bybit", "XUSDT"): far}).assets


def test_a_listing_without_a_price_stays_out_and_the_priced_venue_stands_alone() -> None:
    prices = {("binanceusdm", "1000SHIBUSDT"): 0.0123, ("bybit", "SHIB1000USDT"): None}
    mapped = build(shib()[:2], prices)
    assert [m.listing.venue for m in mapped.assets["SHIB"]] == ["binanceusdm"]
    assert [(o.listing.venue, "no mark price" in o.reason) for o in mapped.venue_only] == [("bybit", True)]


def test_an_asset_on_one_venue_needs_no_price_and_junk_names_stay_out() -> None:
    listings = [Listing("okx", "BTC-USDT-SWAP", "BTC"), Listing("okx", "ODD", "BTC/X")]
    mapped = build(listings, {})
    assert [m.listing.symbol for m in mapped.assets["BTC"]] == ["BTC-USDT-SWAP"]
    assert [o.listing.symbol for o in mapped.venue_only] == ["ODD"]
